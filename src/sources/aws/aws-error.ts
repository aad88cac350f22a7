/** AWS JSON 1.1 protocol answers: `{ "__type", "message" }` and `x-amzn-ErrorType`, as AWS sends them. */
import { randomUUID } from 'node:crypto';

export function awsJson(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID(), ...headers },
  });
}

export function awsError(status: number, type: string, message: string, headers: Record<string, string> = {}): Response {
  return awsJson(status, { __type: type, message }, { 'x-amzn-errortype': type, ...headers });
}
