// The example configuration: the two pipelines Sluice grew from.
//  - findings: Jit's rule, an EventBridge pattern on source and detail-type with an input
//    transformer into the unified metric schema, validated and stored in the metrics store.
//  - transactions: DynamoDB stream records of immutable transactions, routed by an ordinary rule.
import { defineConfig } from 'sluice/config';

export default defineConfig({
  rules: [
    {
      name: 'findings-upload-completed',
      description: 'Findings uploads become the findings_upload_completed metric of their tenant.',
      pattern: { source: ['findings'], 'detail-type': ['findings-uploaded'] },
      targets: [
        {
          stream: 'metrics',
          input_transformer: {
            input_paths_map: {
              tenant_id: '$.detail.tenant_id',
              event_id: '$.detail.event_id',
              created_at: '$.detail.created_at',
              new_findings_count: '$.detail.new_findings_count',
              existing_findings_count: '$.detail.existing_findings_count',
            },
            input_template: `{
  "metric_name": "findings_upload_completed",
  "metadata": { "tenant_id": <tenant_id>, "event_id": <event_id>, "event_time": <created_at> },
  "data": { "new_findings_count": <new_findings_count>, "existing_findings_count": <existing_findings_count> }
}`,
          },
        },
      ],
    },
    {
      name: 'transactions-inserted',
      description: 'New transactions from the DynamoDB stream of the transactions table.',
      pattern: {
        source: ['aws.dynamodb'],
        resources: [{ suffix: ':table/transactions' }],
        detail: { eventName: ['INSERT'] },
      },
      targets: [{ stream: 'transactions', input_path: '$.detail.NewImage' }],
    },
  ],
  streams: {
    metrics: {
      // Firehose's 60 s / 5 MiB buffering, as in the seed (sluice dev delivers within a second).
      buffer: { max_bytes: 5 * 1024 * 1024, interval_seconds: 60 },
      processors: [
        { type: 'validate' },
        // Producers may add who uploaded; only a keyed pseudonym of it is ever stored.
        { type: 'pseudonymize', key: { env: 'SLUICE_PSEUDONYM_KEYS' }, fields: { 'metadata.user_id': 'hash' } },
      ],
      destination: { type: 'metrics', retention_days: 400 },
    },
    transactions: { destination: { type: 'stdout' } },
  },
});
