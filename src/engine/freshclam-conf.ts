import { userInfo } from 'node:os';

/** What scangate puts in the freshclam.conf of its managed freshclam. */
export interface FreshclamConfOptions {
  databaseDirectory: string;
  /** DatabaseMirror hosts; empty uses the official database.clamav.net. */
  mirrors: string[];
  /** PrivateMirror URLs: when set, freshclam uses only these. */
  privateMirrors: string[];
  /** http://[user:password@]host:port, or empty. */
  proxy: string;
  customUrls: string[];
  excludeDatabases: string[];
  /** Where freshclam writes its own state (freshclam.dat lives in the database directory). */
  logFile?: string;
}

export type FreshclamOptionValue = string | number | boolean;

/** The freshclam.conf lines, in file order; repeatable options appear once per value. */
export function freshclamOptions(options: FreshclamConfOptions): [string, FreshclamOptionValue][] {
  const lines: [string, FreshclamOptionValue][] = [
    ['DatabaseDirectory', options.databaseDirectory],
    // freshclam runs as scangate's own user: it must not try to switch to the clamav user.
    ['DatabaseOwner', currentUserName()],
    ['Foreground', true],
    ['LogTime', true],
    // freshclam loads every new database before it replaces the old one: a corrupt download or a
    // database this ClamAV refuses is thrown away and the last good one stays.
    ['TestDatabases', true],
    ['Bytecode', !options.excludeDatabases.includes('bytecode')],
    // One run per interval is scangate's loop; within a run, retry a failing mirror a little.
    ['MaxAttempts', 3],
    ['ConnectTimeout', 30],
    ['ReceiveTimeout', 600],
  ];
  if (options.logFile) lines.push(['UpdateLogFile', options.logFile]);
  if (options.privateMirrors.length > 0) {
    // A private mirror answers no DNS TXT record: ask it over HTTP only.
    lines.push(['DNSDatabaseInfo', 'no']);
    for (const mirror of options.privateMirrors) lines.push(['PrivateMirror', mirror]);
  } else {
    const mirrors = options.mirrors.length > 0 ? options.mirrors : ['database.clamav.net'];
    for (const mirror of mirrors) lines.push(['DatabaseMirror', mirror]);
  }
  if (options.proxy) {
    const proxy = new URL(options.proxy);
    lines.push(['HTTPProxyServer', `${proxy.protocol}//${proxy.hostname}`]);
    lines.push(['HTTPProxyPort', Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80))]);
    if (proxy.username) lines.push(['HTTPProxyUsername', decodeURIComponent(proxy.username)]);
    if (proxy.password) lines.push(['HTTPProxyPassword', decodeURIComponent(proxy.password)]);
  }
  for (const name of options.excludeDatabases) lines.push(['ExcludeDatabase', name]);
  for (const url of options.customUrls) lines.push(['DatabaseCustomURL', url]);
  return lines;
}

export function renderFreshclamConf(options: FreshclamConfOptions): string {
  const out = ['# Written by scangate for its managed freshclam; rewritten at every start.'];
  for (const [key, value] of freshclamOptions(options)) {
    const text = typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value);
    if (/[\r\n]/.test(text) || text.trim() === '')
      throw new Error(`invalid value for freshclam option ${key}`);
    out.push(`${key} ${text}`);
  }
  return `${out.join('\n')}\n`;
}

/** freshclam started as root drops to DatabaseOwner; as any other user it stays that user. */
function currentUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'root';
  }
}
