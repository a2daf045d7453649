/**
 * Fossil sync server (/xfer), runtime-neutral. What the Durable Object calls:
 *
 *     // every POST whose Content-Type starts with application/x-fossil, any path under the repo
 *     const reply = await xfer(
 *       { store, segments, primitives },            // FossilStore + SegmentStore of the repo
 *       { contentType, body },                      // request body bytes (route caps its size)
 *       {
 *         anonymousCaps: isPublic ? ROLE_CAPS.nobody : '',
 *         user: async (login, projectCode) => ({ caps: ROLE_CAPS[role], secrets: [sharedSecret(p, projectCode, login, password)] }) | null,
 *         onArtifacts: (received) => crosslink(received),   // optional: manifests etc. just stored
 *       },
 *     );
 *     // -> HTTP 200, Content-Type: reply.contentType, Content-Length: reply.body.length, body: reply.body
 *
 *     // once, when a fossil repository is created (empty store):
 *     const { projectCode, serverCode, initialCheckin } = await newRepository(repo, { creator, projectName });
 *
 * xfer never throws for bad input (it answers with an `error` card); a throw
 * is a storage failure (5xx). Requests of one repository should not run
 * concurrently (the DO serialises them), since uv newer-wins checks and
 * cluster creation read then write.
 */
export { xfer, xferStreamed, DEFAULT_XFER_LIMITS, type StreamedXferReply, type XferContext, type XferLimits, type XferPush, type XferReply, type XferUser } from './xfer.js';
export { emptyRepository, newRepository, type NewRepository, type NewRepositoryOptions } from './new-repo.js';
export { sharedSecret, verifyLogin, loginNonce, loginSignature } from './login.js';
export { ROLE_CAPS, capabilities, roleCapabilities, type Capabilities, type FossilRole } from './caps.js';
export { isXferContentType, bodyEncoding, CT_COMPRESSED, CT_UNCOMPRESSED, CT_DEBUG } from './body.js';
export type { ReceivedArtifact } from './receive.js';
export type { FossilRepo } from './repo.js';
export { XferError } from './errors.js';
