/** What clamd's VERSION reply says about the engine and its loaded database. */
export interface ClamdVersion {
  /** e.g. `1.4.6` */
  engineVersion: string;
  /** The daily database version, when a daily CVD/CLD/CUD is loaded; absent for plain signature files. */
  databaseVersion?: string;
  /** When that database was built (clamd prints its local time). */
  databaseDate?: Date;
}

/**
 * Parses `ClamAV 1.4.6/27000/Mon Nov 23 05:50:56 2026` or, with only plain signature files loaded,
 * `ClamAV 1.4.6` (clamd prints the database part only when a daily CVD sets a version).
 */
export function parseVersionReply(reply: string): ClamdVersion {
  const match = /^ClamAV ([^/\s]+)(?:\/(\d+)\/(.+))?$/.exec(reply.replace(/[\0\n]+$/, '').trim());
  if (!match) throw new Error(`unexpected clamd VERSION reply: ${JSON.stringify(reply.slice(0, 200))}`);
  const version: ClamdVersion = { engineVersion: match[1]! };
  if (match[2] !== undefined) {
    version.databaseVersion = match[2];
    const date = new Date(match[3]!);
    if (!Number.isNaN(date.getTime())) version.databaseDate = date;
  }
  return version;
}
