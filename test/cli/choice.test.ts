// The first word of a command (`keys create`, `dlq list`, `events s3`, …): what is missing or
// wrong is said, with the choices.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choice, UsageError } from '../../src/cli/cli-io.ts';

test('a command\'s first word: missing, an option in its place, unknown, or one of the choices', () => {
  const kinds = ['dynamodb', 'firehose', 's3', 'api'] as const;
  assert.equal(choice('s3', 'event kind', kinds), 's3');
  const says = (word: string | undefined) => {
    try {
      choice(word, 'event kind', kinds);
    } catch (e) {
      assert.ok(e instanceof UsageError);
      return e.message;
    }
    return assert.fail(`${word} was taken`);
  };
  assert.equal(says(undefined), 'the event kind is required: one of dynamodb, firehose, s3, api');
  assert.equal(says(''), 'the event kind is required: one of dynamodb, firehose, s3, api');
  assert.equal(says('--kind'), 'the event kind comes before the options: one of dynamodb, firehose, s3, api (got --kind first)');
  assert.equal(says('S3'), 'the event kind must be one of dynamodb, firehose, s3, api, got "S3"');
  assert.equal(says('toString'), 'the event kind must be one of dynamodb, firehose, s3, api, got "toString"');
  assert.throws(() => choice('gcp', 'target', ['aws']), /^UsageError: the target must be aws, got "gcp"$/);
});
