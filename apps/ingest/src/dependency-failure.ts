import { DependencyUnavailableError, InputNotStorableError, ValidationError, type CommstratError } from '@commstrat/core';
import { BSON, MongoInvalidArgumentError, MongoServerError } from 'mongodb';
import postgres from 'postgres';

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
  return journalInputFault(cause) ? new InputNotStorableError(cause) : new DependencyUnavailableError('journal (MongoDB)', cause);
}

/** The journal refused what it was given (see journalFailure): the same call fails the same way again. */
export function journalInputFault(cause: unknown): boolean {
  return (
    cause instanceof RangeError ||
    cause instanceof BSON.BSONError ||
    cause instanceof MongoInvalidArgumentError ||
    (cause instanceof MongoServerError && typeof cause.code === 'number' && DOCUMENT_ERROR_CODES.has(cause.code))
  );
}

/**
 * What a failed strategy lookup means. PostgreSQL's class 22 (data exception: a NUL
 * byte or a value it cannot take in a text parameter) is about the name looked up, the
 * only text of the message the lookup sends; anything else is PostgreSQL unavailable.
 */
export function routingFailure(cause: unknown): CommstratError {
  if (cause instanceof postgres.PostgresError && cause.code.startsWith('22')) {
    return new ValidationError([{ path: '/strategy', message: `cannot be looked up: ${cause.message}` }]);
  }
  return new DependencyUnavailableError('strategies (PostgreSQL)', cause);
}
