// SabreError: one class for every sabre status.  `.status` is the negative
// SABRE_E* number of include/sabre/status.h, `.code` its name
// ("SABRE_ECORRUPT"); the message is the library's detail
// (sabre_last_error() on the calling thread) or, in the pure-JS workers, a
// message of the same shape: "<kind> '<name>': <what> is X, want Y".
import abi from './abi.js';

const NAMES = Object.fromEntries(Object.entries(abi.status).map(([k, v]) => [v, k]));

export class SabreError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'SabreError';
    this.status = status;
    this.code = NAMES[status] || 'SABRE_E?';
  }
}

export const S = abi.status;

export function fail(code, message) {
  return new SabreError(abi.status[code], message);
}
