export declare const ROOT: string;
export declare const DIST: string;
export declare const STAMP: string;
export declare function sourceFingerprint(root?: string): { newestMs: number; files: number };
export declare function buildState(root?: string): 'fresh' | 'stale' | 'missing';
