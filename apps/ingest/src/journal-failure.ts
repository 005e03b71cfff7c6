import { DependencyUnavailableError, InputNotStorableError, type CommstratError } from '@commstrat/core';
import { BSON, MongoInvalidArgumentError, MongoServerError } from 'mongodb';

/**
 * Server error codes that mean "this document", not "this server": BadValue,
 * Overflow, DocumentValidationFailure, BSONObjectTooLarge, and an update result too
 * large. Anything else from MongoDB may pass on retry.
 */
const DOCUMENT_ERROR_CODES: ReadonlySet<number> = new Set([2, 15, 121, 10334, 17419]);

/**
 * What a failed journal write means, asked as "can retrying the same input change the
 * outcome?". The input's fault when the driver cannot serialize it (a RangeError from
 * recursing into a deep value, a BSON error), refuses it as an argument (a document over
 * the size limit), or the server refuses that document; everything else (network,
 * server selection, timeouts, a primary stepping down) is the journal being
 * unavailable, which a retry may outlast.
 */
export function journalFailure(cause: unknown): CommstratError {
  const inputsFault =
    cause instanceof RangeError ||
    cause instanceof BSON.BSONError ||
    cause instanceof MongoInvalidArgumentError ||
    (cause instanceof MongoServerError && typeof cause.code === 'number' && DOCUMENT_ERROR_CODES.has(cause.code));
  return inputsFault ? new InputNotStorableError(cause) : new DependencyUnavailableError('journal (MongoDB)', cause);
}
