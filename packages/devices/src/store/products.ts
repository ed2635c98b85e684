import { randomBytes } from 'node:crypto';
import { DeviceStoreError, isUniqueViolation, toStoreError } from './errors.js';
import { PRODUCT_SECRET_BYTES, checkContext, checkId, type ChangeContext } from './input-rules.js';
import { productSecretSeal, type RegistryContext } from './registry-context.js';

/** Products: an id and a 32-byte secret, sealed under the master key ring. */

export async function createProduct(reg: RegistryContext, productId: string, context: ChangeContext): Promise<Buffer> {
  checkId(productId, 'productId');
  const ctx = checkContext(context);
  const secret = randomBytes(PRODUCT_SECRET_BYTES);
  const now = reg.nowMs();
  const sealed = reg.ring.seal(secret, productSecretSeal(productId));
  try {
    await reg.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('wxseal_products')
        .values({ product_id: productId, secret_ct: sealed, master_key_id: reg.ring.activeId, created_at: now, updated_at: now })
        .execute();
      await reg.audit(trx, { serial: null, productId, action: 'create_product', ctx, keyVersion: null, at: now });
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new DeviceStoreError('DEVICE_PRODUCT_EXISTS', `product ${productId} already exists`);
    throw toStoreError('createProduct', err);
  }
  return secret;
}

export async function getProductSecret(reg: RegistryContext, productId: string): Promise<Buffer> {
  checkId(productId, 'productId');
  const row = await reg.read('getProductSecret', () =>
    reg.db.selectFrom('wxseal_products').select(['secret_ct', 'master_key_id']).where('product_id', '=', productId).executeTakeFirst(),
  );
  if (!row) throw new DeviceStoreError('DEVICE_PRODUCT_NOT_FOUND', `product ${productId} does not exist`);
  return reg.ring.open(row.master_key_id, row.secret_ct, productSecretSeal(productId));
}

export async function listProducts(reg: RegistryContext): Promise<string[]> {
  const rows = await reg.read('listProducts', () => reg.db.selectFrom('wxseal_products').select('product_id').orderBy('product_id').execute());
  return rows.map((r) => r.product_id);
}
