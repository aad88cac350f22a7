// The example configuration: the two pipelines Sluice grew from.
//  - findings: Jit's rule, an EventBridge pattern on source and detail-type with an input
//    transformer into the unified metric schema, validated and stored in the metrics store.
//  - transactions: DynamoDB stream records of immutable transactions, routed by an ordinary rule,
//    pseudonymized into the BI table `bi.transactions`; user profiles from a CRM into `bi.users`,
//    joinable on the pseudonymized user id.
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
              scanner: '$.detail.scanner',
            },
            input_template: `{
  "metric_name": "findings_upload_completed",
  "metadata": { "tenant_id": <tenant_id>, "event_id": <event_id>, "event_time": <created_at> },
  "data": { "new_findings_count": <new_findings_count>, "existing_findings_count": <existing_findings_count>, "scanner": <scanner> }
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
    {
      name: 'user-profiles',
      description: 'User profiles from the CRM, joinable with transactions on the pseudonymized user id.',
      pattern: { source: ['crm'], 'detail-type': ['user-updated'] },
      targets: [{ stream: 'users', input_path: '$.detail' }],
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
      // The scanner that found them: kept in the hourly rollups, so charts by scanner stay fast.
      destination: { type: 'metrics', retention_days: 400, rollup_dimensions: ['scanner'] },
    },
    // The BI pipeline: immutable transactions into a wide table any SQL BI tool reads (on
    // PostgreSQL through a role from sluice bi-role create; in dev over --pg-port), with the user
    // pseudonymized by the same key as everywhere else.
    transactions: {
      buffer: { max_records: 5000, interval_seconds: 60 },
      processors: [{ type: 'pseudonymize', key: { env: 'SLUICE_PSEUDONYM_KEYS' }, fields: { user_id: 'hash', ip_address: 'truncate-ip' } }],
      destination: {
        type: 'table',
        table: 'transactions',
        columns: {
          transaction_id: 'text',
          user_id: { type: 'text', subject: 'user_id' },
          amount: 'numeric(12,2)',
          currency: 'varchar(3)',
          merchant: 'text',
          merchant_category: 'text',
          country: 'varchar(2)',
          ip_address: 'text',
          status: 'text',
          created_at: 'timestamptz',
        },
        primary_key: ['transaction_id'],
      },
    },
    users: {
      buffer: { interval_seconds: 60 },
      processors: [
        {
          // The CRM's profile schema: the pseudonymize policies below are checked against it.
          type: 'validate',
          schema: {
            type: 'object',
            required: ['user_id', 'signed_up_at'],
            properties: {
              user_id: { type: 'string', minLength: 1 },
              email: { type: 'string' },
              country: { type: 'string', maxLength: 2 },
              plan: { type: 'string' },
              birth_date: { type: 'string', format: 'date' },
              lifetime_value: { type: 'number', minimum: 0 },
              signed_up_at: { type: 'string', format: 'date-time' },
            },
          },
        },
        {
          type: 'pseudonymize',
          key: { env: 'SLUICE_PSEUDONYM_KEYS' },
          // No email, a birth month, a value band: enough for BI, not enough to single anyone out.
          fields: { user_id: 'hash', email: 'drop', birth_date: 'coarsen-date', lifetime_value: { bucket: [0, 100, 500, 1000, 5000] } },
        },
      ],
      destination: {
        type: 'table',
        table: 'users',
        columns: {
          user_id: { type: 'text', subject: 'user_id' },
          country: 'varchar(2)',
          plan: 'text',
          birth_month: { type: 'date', from: '$.birth_date' },
          lifetime_value_band: { type: 'numeric(12,2)', from: '$.lifetime_value' },
          signed_up_at: 'timestamptz',
        },
        primary_key: ['user_id'],
        on_conflict: 'update',
      },
    },
  },
});
