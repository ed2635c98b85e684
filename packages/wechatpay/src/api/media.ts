// Media uploads: `POST /v3/merchant/media/upload` (images) and `/v3/merchant/media/video_upload`.
// multipart/form-data with a `meta` part (JSON {filename, sha256 of the file}) and a `file` part;
// the signature covers the meta JSON text only. Answers `{media_id}` (signed, verified).
import { createHash } from 'node:crypto';
import { fail } from '../errors.js';
import type { CallOptions, WechatPayMerchantClient } from '../client/interface.js';
import { answerObject, callOptions } from './answer.js';
import type { MediaUploadRequest, MediaUploadResult } from './types.js';

/** Image limits WeChat Pay documents: JPG, BMP, PNG, at most 2 MB. */
export const MEDIA_IMAGE_MAX_BYTES = 2 * 1024 * 1024;
/** Video limits WeChat Pay documents: avi, wmv, mpeg, mp4, mov, mkv, flv, f4v, m4v, rmvb, at most 5 MB. */
export const MEDIA_VIDEO_MAX_BYTES = 5 * 1024 * 1024;

const IMAGE_TYPES: Readonly<Record<string, string>> = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', bmp: 'image/bmp' };
const VIDEO_TYPES: Readonly<Record<string, string>> = {
  avi: 'video/x-msvideo',
  wmv: 'video/x-ms-wmv',
  mpeg: 'video/mpeg',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  mkv: 'video/x-matroska',
  flv: 'video/x-flv',
  f4v: 'video/x-f4v',
  m4v: 'video/x-m4v',
  rmvb: 'application/vnd.rn-realmedia-vbr',
};

/** The `meta` JSON text of an upload: `{"filename":…,"sha256":…}` (hex digest of the file). */
export function mediaMeta(filename: string, file: Uint8Array): string {
  return JSON.stringify({ filename, sha256: createHash('sha256').update(file).digest('hex') });
}

async function upload(m: WechatPayMerchantClient, req: MediaUploadRequest, kind: 'image' | 'video', options: CallOptions | undefined): Promise<MediaUploadResult> {
  if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', 'upload request must be an object');
  const types = kind === 'image' ? IMAGE_TYPES : VIDEO_TYPES;
  const max = kind === 'image' ? MEDIA_IMAGE_MAX_BYTES : MEDIA_VIDEO_MAX_BYTES;
  if (typeof req.filename !== 'string' || req.filename.length === 0 || req.filename.length > 128) fail('WECHATPAY_BAD_ARGUMENT', 'filename must be 1-128 characters');
  const ext = /\.([A-Za-z0-9]+)$/.exec(req.filename)?.[1]?.toLowerCase();
  const derived = ext === undefined ? undefined : types[ext];
  if (derived === undefined) fail('WECHATPAY_BAD_ARGUMENT', `filename must end in .${Object.keys(types).join(', .')} for a ${kind}`);
  if (!(req.file instanceof Uint8Array) || req.file.byteLength === 0) fail('WECHATPAY_BAD_ARGUMENT', 'file must be non-empty bytes');
  if (req.file.byteLength > max) fail('WECHATPAY_BAD_ARGUMENT', `a ${kind} is at most ${max} bytes (this one: ${req.file.byteLength})`);
  const path = kind === 'image' ? '/v3/merchant/media/upload' : '/v3/merchant/media/video_upload';
  const res = await m.request({
    method: 'POST',
    path,
    multipart: { meta: mediaMeta(req.filename, req.file), file: req.file, filename: req.filename, contentType: req.contentType ?? derived },
    ...callOptions(options, true),
  });
  const d = answerObject(res, `${kind} upload`, ['media_id'], { method: 'POST', path });
  return { media_id: d['media_id'] as string };
}

/** `POST /v3/merchant/media/upload` (JPG, BMP, PNG, ≤ 2 MB) → media_id. Idempotent by default (the same file again is harmless). */
export function uploadImage(m: WechatPayMerchantClient, req: MediaUploadRequest, options?: CallOptions): Promise<MediaUploadResult> {
  return upload(m, req, 'image', options);
}

/** `POST /v3/merchant/media/video_upload` (avi, wmv, mpeg, mp4, mov, mkv, flv, f4v, m4v, rmvb, ≤ 5 MB) → media_id. */
export function uploadVideo(m: WechatPayMerchantClient, req: MediaUploadRequest, options?: CallOptions): Promise<MediaUploadResult> {
  return upload(m, req, 'video', options);
}
