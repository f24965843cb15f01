/**
 * The codec server for the Temporal Web UI and CLI (Temporal's codec server protocol):
 * `POST /codec/encode` and `POST /codec/decode` take and answer `{ payloads: [{ metadata, data }] }`.
 */
import { z } from 'zod';
import { routes } from './route';

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');

/** Body of `POST /codec/{encode,decode}`: payloads with base64 metadata values and data. */
export const codecRequestSchema = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), base64).nullish(),
      data: base64.nullish(),
    }),
  ),
});
export type CodecRequest = z.infer<typeof codecRequestSchema>;

/** Answer of `POST /codec/{encode,decode}`: the payloads in the same order. */
export const codecResponseSchema = z.strictObject({
  payloads: z.array(z.strictObject({ metadata: z.record(z.string(), base64), data: base64 })),
});

const codecAnswer = { 200: { description: 'The payloads, in the same order.', schema: codecResponseSchema } };
const codecErrors = { 404: 'Payload encryption is off (code `encryption_off`).' };

/** The codec server (the document's `Codec` tag; see ./route.ts): admin keys only. */
export const codecRoutes = routes([
  { method: 'post', path: '/codec/encode', tag: 'Codec', role: 'admin', summary: 'Encrypt payloads (Temporal codec server protocol)', body: codecRequestSchema, answers: codecAnswer, errors: codecErrors },
  { method: 'post', path: '/codec/decode', tag: 'Codec', role: 'admin', summary: 'Decrypt payloads (Temporal codec server protocol)', body: codecRequestSchema, answers: codecAnswer, errors: codecErrors },
]);
