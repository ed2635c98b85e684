/**
 * Serials and known device keys shared by the devices part, scenario (g)'s registry (orchestrator)
 * and its load generator (which signs without reading the database). No heavy imports: the load
 * generator loads this file.
 */
import { createHmac } from 'node:crypto';

/** Serial number i of a bench registry. */
export const serialOf = (i: number): string => `BENCH-${i.toString(36).padStart(6, '0')}`;

/** The key of device `serial` in scenario (g): HMAC-SHA256(runSecret, serial), 32 bytes. */
export function deviceKeyOf(runSecret: Uint8Array, serial: string): Buffer {
  return createHmac('sha256', runSecret).update(serial, 'utf8').digest();
}

/** The hot-set distribution of the devices part: 90 % uniform over every 10th device (10 %), 10 % uniform over all. */
export function hotSetSerial(devices: number, random: () => number = Math.random): string {
  const hot = Math.max(1, Math.floor(devices / 10));
  return random() < 0.9 ? serialOf(10 * Math.floor(random() * hot)) : serialOf(Math.floor(random() * devices));
}

export const HOT_SET_DESCRIPTION = '90 % of requests uniform over a hot set of 10 % of the devices (every 10th serial), 10 % uniform over all devices';
