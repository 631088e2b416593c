import { createHash } from 'node:crypto';

/** Reported (with `.UNOFFICIAL`) when clamd extracted the probe file intact from a container. */
export const FORMAT_PROBE_FINDING = 'Scangate.SelfTest.FormatProbe';

/**
 * The file the format self-test wraps in each container. Not EICAR: with a body signature EICAR is
 * found wherever its 68 bytes appear verbatim, and most containers store a file that small
 * verbatim, so detecting it proves nothing. The probe is caught by the MD5 of the whole file
 * (`.hdb`), which clamd only computes over a member it really extracted, and it is long and
 * repetitive, so every compressor actually compresses it. Harmless text: a client uploading it
 * gets `infected` with the probe's name, as with EICAR.
 */
export function formatProbeBytes(): Buffer {
  const lines: string[] = [];
  for (let line = 0; line < 200; line++) {
    lines.push(`scangate format probe line ${String(line).padStart(5, '0')}: a container clamd must open\n`);
  }
  return Buffer.from(lines.join(''), 'latin1');
}

/** The `.hdb` line (MD5:size:name) that detects the probe. */
export function formatProbeSignature(): string {
  const probe = formatProbeBytes();
  return `${createHash('md5').update(probe).digest('hex')}:${probe.length}:${FORMAT_PROBE_FINDING}\n`;
}
