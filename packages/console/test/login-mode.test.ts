// Which login form the console opens on (src/login-mode.ts): the URL's hint, else the method that
// last worked in this browser, else the password form.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseLoginMode, initialLoginMode, loginHint } from '../src/login-mode.js';

test('a login=token|password hint in the query string or the hash wins', () => {
  assert.equal(loginHint('?login=token', ''), 'token');
  assert.equal(loginHint('', '#/devices?login=token'), 'token');
  assert.equal(loginHint('?x=1&login=password', '#/?login=token'), 'password');
  assert.equal(loginHint('?login=sso', '#/overview'), undefined);
  assert.equal(initialLoginMode('?login=token', '', 'password'), 'token');
});

test('without a hint: the method remembered from the last login, else password', () => {
  assert.equal(initialLoginMode('', '', 'token'), 'token');
  assert.equal(initialLoginMode('', '#/audit', 'password'), 'password');
  assert.equal(initialLoginMode('', '', null), 'password');
  assert.equal(initialLoginMode('', '', 'garbage'), 'password');
});

test('the methods the gateway accepts decide when it accepts one; the preference when it accepts both', () => {
  assert.equal(chooseLoginMode('password', ['token']), 'token');
  assert.equal(chooseLoginMode('token', ['password']), 'password');
  assert.equal(chooseLoginMode('token', ['token', 'password']), 'token');
  assert.equal(chooseLoginMode('password', ['token', 'password']), 'password');
  assert.equal(chooseLoginMode('password', undefined), 'password');
  assert.equal(chooseLoginMode('token', []), 'token');
});
