/** The S3 source: the client for AWS S3 or a compatible store, and objects opened as streams. */
export { createS3Client, type S3ClientOptions } from './client.ts';
export { classifyS3Error, type S3ObjectRef } from './errors.ts';
export { type OpenedS3Object, type OpenS3ObjectOptions, openS3Object } from './open-object.ts';
