// Media uploads: `POST /v3/merchant/media/upload` (images) and `/v3/merchant/media/video_upload`.
// The body is multipart/form-data with a `meta` part (JSON {filename, sha256}) and a `file` part;
// WeChat Pay verifies the request signature over the meta JSON text, then checks that the file's
// SHA-256 is the one meta announced, the extension and the size.
import { createHash, randomBytes } from 'node:crypto';
import { payFail } from './errors.js';

export const MEDIA_PATHS = new Set(['/v3/merchant/media/upload', '/v3/merchant/media/video_upload']);
/** Body limit of the upload paths (5 MB video + multipart framing). */
export const MEDIA_MAX_BODY = 6 * 1024 * 1024;

const IMAGE_EXT = new Set(['jpg', 'jpeg', 'png', 'bmp']);
const VIDEO_EXT = new Set(['avi', 'wmv', 'mpeg', 'mp4', 'mov', 'mkv', 'flv', 'f4v', 'm4v', 'rmvb']);
const MAX_PARTS = 8;

export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** The parts of a multipart/form-data body, or PARAM_ERROR when it is not one. */
export function parseMultipart(contentType: string | undefined, body: Buffer): MultipartPart[] {
  const m = /^multipart\/form-data\s*;(?:.*;)?\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType ?? '');
  if (!m) payFail(400, 'PARAM_ERROR', '请求的Content-Type应为multipart/form-data并携带boundary');
  const delimiter = Buffer.from(`--${m[1] ?? m[2]}`, 'latin1');
  const parts: MultipartPart[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) payFail(400, 'PARAM_ERROR', 'multipart请求体格式错误');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString('latin1') === '--') break;
    if (body.subarray(pos, pos + 2).toString('latin1') !== '\r\n') payFail(400, 'PARAM_ERROR', 'multipart请求体格式错误');
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), pos);
    if (headerEnd < 0 || next < 0 || headerEnd > next) payFail(400, 'PARAM_ERROR', 'multipart请求体格式错误');
    const headers = body.subarray(pos, headerEnd).toString('utf8').split('\r\n');
    let name: string | undefined;
    let filename: string | undefined;
    let partType: string | undefined;
    for (const h of headers) {
      const colon = h.indexOf(':');
      if (colon < 0) continue;
      const key = h.slice(0, colon).trim().toLowerCase();
      const value = h.slice(colon + 1).trim();
      if (key === 'content-disposition') {
        name = /;\s*name="([^"]*)"/i.exec(value)?.[1];
        filename = /;\s*filename="([^"]*)"/i.exec(value)?.[1];
      } else if (key === 'content-type') partType = value;
    }
    if (name === undefined) payFail(400, 'PARAM_ERROR', 'multipart的每个部分都需要Content-Disposition name');
    parts.push({ name, ...(filename !== undefined ? { filename } : {}), ...(partType !== undefined ? { contentType: partType } : {}), data: body.subarray(headerEnd + 4, next) });
    if (parts.length > MAX_PARTS) payFail(400, 'PARAM_ERROR', 'multipart部分过多');
    pos = next + 2;
  }
  return parts;
}

/** The `meta` part's bytes: what the request signature covers. */
export function metaOf(parts: MultipartPart[]): Buffer {
  const metas = parts.filter((p) => p.name === 'meta');
  if (metas.length !== 1) payFail(400, 'PARAM_ERROR', '输入源“/body/meta”映射到值字段“meta”必填性规则校验失败，此字段为必填项');
  return (metas[0] as MultipartPart).data;
}

/** Checks the upload and answers {media_id}. */
export function acceptUpload(path: string, parts: MultipartPart[]): Record<string, unknown> {
  const video = path.endsWith('/video_upload');
  let meta: unknown;
  try {
    meta = JSON.parse(metaOf(parts).toString('utf8'));
  } catch {
    payFail(400, 'PARAM_ERROR', 'meta不是合法的JSON');
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) payFail(400, 'PARAM_ERROR', 'meta必须是JSON对象');
  const { filename, sha256 } = meta as { filename?: unknown; sha256?: unknown };
  if (typeof filename !== 'string' || filename === '' || filename.length > 128) payFail(400, 'PARAM_ERROR', '输入源“/body/meta/filename”映射到值字段“filename”字符串规则校验失败');
  if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) payFail(400, 'PARAM_ERROR', '输入源“/body/meta/sha256”映射到值字段“sha256”格式规则校验失败');
  const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase() ?? '';
  if (!(video ? VIDEO_EXT : IMAGE_EXT).has(ext)) payFail(400, 'PARAM_ERROR', video ? '视频格式不支持，仅支持avi、wmv、mpeg、mp4、mov、mkv、flv、f4v、m4v、rmvb' : '图片格式不支持，仅支持JPG、BMP、PNG');
  const files = parts.filter((p) => p.name === 'file');
  if (files.length !== 1) payFail(400, 'PARAM_ERROR', '输入源“/body/file”映射到值字段“file”必填性规则校验失败，此字段为必填项');
  const file = (files[0] as MultipartPart).data;
  const max = video ? 5 * 1024 * 1024 : 2 * 1024 * 1024;
  if (file.length === 0) payFail(400, 'PARAM_ERROR', '文件为空');
  if (file.length > max) payFail(400, 'PARAM_ERROR', video ? '视频大小不能超过5M' : '图片大小不能超过2M');
  const actual = createHash('sha256').update(file).digest('hex');
  if (actual !== sha256.toLowerCase()) payFail(400, 'PARAM_ERROR', '文件摘要与meta中的sha256不一致');
  return { media_id: `${video ? 'V' : 'I'}1_${randomBytes(48).toString('base64url')}` };
}
