// The workbench shell: sign-in with an API key (kept in sessionStorage only), the navigation for the
// key's role, a hash router over the screens, and `api()`, the one way the screens call the service.
import * as check from './check.js';
import * as rules from './rules.js';
import * as dashboard from './dashboard.js';
import * as scrubs from './scrubs.js';

const KEY = 'scrubber.apiKey';
const TITLE = 'Claim scrubber workbench';

// The screens, their labels and the roles that may use them (as the API's `require(...)`; admin: all).
const SCREENS = [
  {name: 'check', label: 'Check a claim', module: check, roles: ['submitter', 'coder']},
  {name: 'rules', label: 'Rules', module: rules, roles: ['compliance', 'coder']},
  {name: 'dashboard', label: 'Dashboard', module: dashboard, roles: ['submitter', 'coder', 'compliance']},
  {name: 'scrubs', label: 'Scrubs', module: scrubs, roles: ['submitter', 'coder', 'compliance'], hidden: true},
];

/** An error answer of the API: `.status` and `.problem` (the problem+json body, or null). */
export class ApiProblem extends Error {
  constructor(status, problem, message) {
    super(message);
    this.name = 'ApiProblem';
    this.status = status;
    this.problem = problem;
  }
}

/** Call the API with the signed-in key; parsed JSON (or text when the answer is not JSON).
 *  A non-2xx answer throws an ApiProblem. */
export async function api(path, {method = 'GET', body, contentType, accept} = {}) {
  const headers = {};
  const key = sessionStorage.getItem(KEY);
  if (key) headers['X-API-Key'] = key;
  if (accept) headers['Accept'] = accept;
  let payload = body;
  if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Blob)) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = contentType || 'application/json';
  } else if (body !== undefined && body !== null) {
    headers['Content-Type'] = contentType || 'application/json';
  }
  let response;
  try {
    response = await fetch(path, {method, headers, body: payload, credentials: 'omit', cache: 'no-store'});
  } catch (err) {
    throw new ApiProblem(0, null, `the service did not answer (${err.message})`);
  }
  const type = response.headers.get('content-type') || '';
  const text = await response.text();
  let parsed = text;
  if (type.includes('json') && !type.includes('ndjson')) {
    try { parsed = JSON.parse(text); } catch { parsed = text; }
  }
  if (!response.ok) {
    const problem = typeof parsed === 'object' && parsed !== null ? parsed : null;
    const message = problem ? (problem.detail || problem.title) : `HTTP ${response.status}`;
    throw new ApiProblem(response.status, problem, message);
  }
  return parsed;
}

/** An element: el('td', {class: 'x', dataset: {ruleId: 'a'}}, 'text', child). No HTML strings. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name === 'text') node.textContent = value;
    else if (name === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (name in node && typeof value !== 'string') node[name] = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A term and its value for a <dl>: [<dt>, <dd>]. A missing value (null, undefined, '') shows `missing`;
 * with `missing` null the pair is left out. */
export function fact(term, value, testid, missing = '–') {
  const absent = value === null || value === undefined || value === '';
  if (absent && missing === null) return [];
  return [el('dt', {}, term), el('dd', testid ? {'data-testid': testid} : {}, absent ? missing : String(value))];
}

/** An alert naming the API problem and each field it names (problem+json `errors[].field`). */
export function problemAlert(err, testid = 'error') {
  const box = el('div', {role: 'alert', class: 'error', 'data-testid': testid});
  const problem = err && err.problem;
  box.append(el('strong', {}, problem ? (problem.title || 'Error') : 'Error'), ': ',
    problem ? (problem.detail || '') : (err && err.message) || String(err));
  if (problem && Array.isArray(problem.errors) && problem.errors.length) {
    box.append(el('ul', {}, problem.errors.map(e =>
      el('li', {'data-testid': 'error-field', 'data-field': e.field || ''},
        el('code', {}, e.field || '(body)'), ': ', e.message || ''))));
  }
  return box;
}

const $ = (selector) => document.querySelector(selector);
let role = null;

function allowed(screen) {
  return role === 'admin' || screen.roles.includes(role);
}

function showSignIn(message) {
  role = null;
  $('[data-testid="sign-in"]').hidden = false;
  $('[data-testid="nav"]').hidden = true;
  $('[data-testid="who"]').hidden = true;
  $('[data-testid="sign-out"]').hidden = true;
  $('#screen').replaceChildren();
  const error = $('[data-testid="sign-in-error"]');
  error.hidden = !message;
  error.textContent = message || '';
  document.title = `${TITLE}: sign in`;
  $('#api-key').focus();
}

function buildNav() {
  const nav = $('[data-testid="nav"]');
  nav.replaceChildren(...SCREENS.filter(s => allowed(s) && !s.hidden).map(s =>
    el('a', {href: `#/${s.name}`, 'data-testid': `nav-${s.name}`, dataset: {screen: s.name}}, s.label)));
  nav.hidden = false;
  const who = $('[data-testid="who"]');
  who.textContent = `signed in as ${role}`;
  who.hidden = false;
  $('[data-testid="sign-out"]').hidden = false;
  $('[data-testid="sign-in"]').hidden = true;
}

/** Parse location.hash: '#/rules/npi-check-digit?x=1' -> {path: ['rules', 'npi-check-digit'], params}. */
function parseHash() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [pathPart, query = ''] = hash.split('?');
  const path = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  return {path, params: new URLSearchParams(query)};
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

let routing = 0;
async function route() {
  if (!role) return;
  const {path, params} = parseHash();
  const fallback = SCREENS.find(allowed);
  let screen = SCREENS.find(s => s.name === path[0]);
  if (!screen || !allowed(screen)) {
    if (!fallback) { $('#screen').replaceChildren(el('p', {}, 'This key may use no screen.')); return; }
    if (path[0] && screen) {
      $('#screen').replaceChildren(problemAlert(new ApiProblem(403, {title: 'Not allowed for this role',
        detail: `a ${role} key may not use ${screen.label}`}, 'forbidden')));
      return;
    }
    navigate(`#/${fallback.name}`);
    return;
  }
  for (const link of document.querySelectorAll('[data-testid="nav"] a')) {
    if (link.dataset.screen === screen.name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${TITLE}: ${screen.label}`;  // never anything from a claim
  const root = el('main', {id: 'screen', 'data-testid': 'screen', tabindex: '-1', dataset: {screen: screen.name}});
  $('#screen').replaceWith(root);
  const ticket = ++routing;
  try {
    await screen.module.render(root, {api, role, navigate, params, path});
  } catch (err) {
    if (ticket === routing) root.append(problemAlert(err));
  }
}

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    const me = await api('/v1/whoami');
    role = me.role;
  } catch (err) {
    sessionStorage.removeItem(KEY);
    showSignIn(err.status === 401 ? 'This API key is unknown, revoked or expired.' : `Sign-in failed: ${err.message}`);
    return;
  }
  buildNav();
  await route();
}

function signOut() {
  sessionStorage.removeItem(KEY);
  location.hash = '';
  showSignIn('');
}

function start() {
  $('[data-testid="sign-in-form"]').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('#api-key');
    const key = input.value.trim();
    input.value = '';
    if (key) signIn(key);
  });
  $('[data-testid="sign-out"]').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  const key = sessionStorage.getItem(KEY);
  if (key) signIn(key);
  else showSignIn('');
}

start();
