import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactUrl } from '@wxseal/support';

test('redactUrl hides the password, keeps the rest', () => {
  assert.equal(redactUrl('redis://user:s3cret@cache:6379/2'), 'redis://user:***@cache:6379/2');
  assert.equal(redactUrl('postgres://app:p%40ss@db/devices?sslmode=require'), 'postgres://app:***@db/devices?sslmode=require');
  assert.equal(redactUrl('redis://cache:6379'), 'redis://cache:6379');
  assert.equal(redactUrl('redis://user@cache'), 'redis://user@cache');
});

test('redactUrl takes a URL object and leaves it as it is', () => {
  const url = new URL('mysql://root:pw@127.0.0.1:3306/x');
  assert.equal(redactUrl(url), 'mysql://root:***@127.0.0.1:3306/x');
  assert.equal(url.password, 'pw');
});

test("redactUrl never echoes what is not a URL: the caller's wording instead", () => {
  assert.equal(redactUrl('not a url with a s3cret'), '[invalid url]');
  assert.equal(redactUrl('', 'an invalid Redis URL'), 'an invalid Redis URL');
});
