/**
 * The EICAR anti-virus test string, assembled at run time from two halves so that no file in the
 * repository is itself an AV test file (scanners on developer machines would quarantine it).
 */
const FIRST_HALF = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}';
const SECOND_HALF = '$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** The 68 EICAR bytes: every engine with a signature database reports them infected. */
export function eicarBytes(): Buffer {
  return Buffer.from(FIRST_HALF + SECOND_HALF, 'latin1');
}
