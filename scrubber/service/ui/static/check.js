// Check a claim: paste or upload JSON, NDJSON, an X12 837 or a FHIR Claim/Bundle, or fill a claim form;
// the findings are shown beside the line they concern, with the denial they predict and why they fired;
// fix and re-check in place. Code look-up beside it. Nothing from a claim goes into a URL, the page title
// or browser storage: the claim lives in this page's form and textarea only.
import {el, fact, problemAlert} from './app.js';

const SYSTEMS = [['icd10cm', 'ICD-10-CM diagnoses'], ['hcpcs', 'HCPCS Level II'], ['modifier', 'Modifiers'],
  ['pos', 'Place of service']];
const SEVERITY_ORDER = {error: 0, warning: 1, info: 2};
let counter = 0;  // unique ids for labels

// The claim being worked on, kept while the user visits another screen of this page: in this module's
// memory only (never sessionStorage or localStorage: it holds PHI), dropped on sign-out.
let kept = null;  // {role, form (the form element itself), mode, text (the pasted text)}
const signOutButton = document.querySelector('[data-testid="sign-out"]');
if (signOutButton) signOutButton.addEventListener('click', () => { kept = null; });

const uid = (name) => `${name}-${++counter}`;
const today = () => new Date().toISOString().slice(0, 10);

/** A labelled input: {label, name, field (its contract path), type, value, cls, options (select)}. */
function field({label, field: path, type = 'text', value = '', cls = '', options, aria, testid}) {
  const id = uid('f');
  let control;
  if (options) {
    control = el('select', {id, class: cls}, options.map(([v, text]) => el('option', {value: v}, text)));
    control.value = value;
  } else {
    control = el('input', {id, type, class: cls, value, autocomplete: 'off', spellcheck: 'false'});
  }
  control.dataset.field = path;
  if (aria) control.setAttribute('aria-label', aria);
  if (testid) control.dataset.testid = testid;
  if (aria) return el('div', {}, el('label', {for: id, 'aria-hidden': 'true'}, label), control);
  return el('div', {}, el('label', {for: id}, label), control);
}

// ------------------------------------------------------------------------------------ the claim form

const EXAMPLE = {
  claim_id: 'PCN-1', claim_type: 'professional', submission_date: '2026-11-27', payer: {id: 'medicare'},
  patient: {member_id: '1EG4TE5MK72', first_name: 'Ann', last_name: 'Lee', birth_date: '1950-03-14', sex: 'F'},
  billing_provider: {npi: '1912301954'}, rendering_provider: {npi: '1234567893'}, place_of_service: '11',
  diagnoses: [{code: 'E11.9'}, {code: 'I10'}],
  lines: [{procedure_code: '99213', modifiers: [], units: 1, charge: '125.00', service_date: '2026-11-01',
    diagnosis_pointers: [1, 3]}],
};

function diagnosisRow(list, code = '') {
  const n = list.children.length + 1;
  const row = el('div', {class: 'row', 'data-testid': 'diagnosis'},
    field({label: `Diagnosis ${n}`, aria: `Diagnosis ${n}`, field: `diagnoses[${n}].code`, value: code, cls: 'mid'}),
    el('button', {type: 'button', class: 'secondary small', 'aria-label': `Remove diagnosis ${n}`,
      on: {click: () => { row.remove(); renumber(list); }}}, 'Remove'));
  list.append(row);
}

function lineRow(list, line = {}) {
  const n = list.children.length + 1;
  const f = (label, name, value, cls = '', type = 'text') =>
    field({label, aria: `Line ${n} ${label.toLowerCase()}`, field: `lines[${n}].${name}`, value: value ?? '', cls, type});
  const row = el('fieldset', {'data-testid': 'line', dataset: {line: String(n)}},
    el('legend', {}, `Line ${n}`),
    el('div', {class: 'row'},
      f('Service date', 'service_date', line.service_date, 'mid', 'date'),
      f('Procedure code', 'procedure_code', line.procedure_code, 'narrow'),
      f('Modifiers', 'modifiers', (line.modifiers || []).join(' '), 'narrow'),
      f('Units', 'units', line.units, 'narrow'),
      f('Charge', 'charge', line.charge, 'narrow'),
      f('Dx pointers', 'diagnosis_pointers', (line.diagnosis_pointers || []).join(' '), 'narrow'),
      f('POS', 'place_of_service', line.place_of_service, 'narrow'),
      el('button', {type: 'button', class: 'secondary small', 'aria-label': `Remove line ${n}`,
        on: {click: () => { if (list.children.length > 1) { row.remove(); renumber(list); } }}}, 'Remove')));
  list.append(row);
}

/** After a removal: number the rows again (labels, legends and contract paths follow the position). */
function renumber(list) {
  [...list.children].forEach((row, i) => {
    const n = String(i + 1);
    if (row.dataset.line) { row.dataset.line = n; row.querySelector('legend').textContent = `Line ${n}`; }
    for (const control of row.querySelectorAll('[data-field]')) {
      control.dataset.field = control.dataset.field.replace(/\[\d+\]/, `[${n}]`);
      const aria = control.getAttribute('aria-label');
      if (aria) control.setAttribute('aria-label', aria.replace(/^(Line|Diagnosis) \d+/, `$1 ${n}`));
      const label = control.parentElement.querySelector('label');
      if (label && /^Diagnosis \d+$/.test(label.textContent)) label.textContent = `Diagnosis ${n}`;
    }
    for (const button of row.querySelectorAll('button[aria-label^="Remove"]')) {
      button.setAttribute('aria-label', button.getAttribute('aria-label').replace(/\d+$/, n));
    }
  });
}

function claimForm(claim) {
  const v = (path) => path.split('.').reduce((o, k) => (o ? o[k] : undefined), claim) ?? '';
  const diagnoses = el('div', {'data-testid': 'diagnoses'});
  const lines = el('div', {'data-testid': 'lines'});
  const form = el('form', {'data-testid': 'claim-form', novalidate: true},
    el('fieldset', {}, el('legend', {}, 'Claim'), el('div', {class: 'row'},
      field({label: 'Claim id', field: 'claim_id', value: v('claim_id'), cls: 'mid'}),
      field({label: 'Claim type', field: 'claim_type', value: v('claim_type') || 'professional',
        options: [['professional', 'professional'], ['institutional', 'institutional']]}),
      field({label: 'Submission date', field: 'submission_date', value: v('submission_date'), type: 'date'}),
      field({label: 'Payer id', field: 'payer.id', value: v('payer.id'), cls: 'mid'}),
      field({label: 'Place of service', field: 'place_of_service', value: v('place_of_service'), cls: 'narrow'}),
      field({label: 'Total charge', field: 'total_charge', value: v('total_charge'), cls: 'narrow'}))),
    el('fieldset', {}, el('legend', {}, 'Patient'), el('div', {class: 'row'},
      field({label: 'Member id', field: 'patient.member_id', value: v('patient.member_id'), cls: 'mid'}),
      field({label: 'First name', field: 'patient.first_name', value: v('patient.first_name'), cls: 'mid'}),
      field({label: 'Last name', field: 'patient.last_name', value: v('patient.last_name'), cls: 'mid'}),
      field({label: 'Birth date', field: 'patient.birth_date', value: v('patient.birth_date'), type: 'date'}),
      field({label: 'Sex', field: 'patient.sex', value: v('patient.sex'),
        options: [['', '—'], ['F', 'F'], ['M', 'M'], ['U', 'U']]}))),
    el('fieldset', {}, el('legend', {}, 'Providers'), el('div', {class: 'row'},
      field({label: 'Billing provider NPI', field: 'billing_provider.npi', value: v('billing_provider.npi'), cls: 'mid'}),
      field({label: 'Rendering provider NPI', field: 'rendering_provider.npi', value: v('rendering_provider.npi'), cls: 'mid'}),
      field({label: 'Referring provider NPI', field: 'referring_provider.npi', value: v('referring_provider.npi'), cls: 'mid'}))),
    el('fieldset', {}, el('legend', {}, 'Diagnoses'), diagnoses,
      el('button', {type: 'button', class: 'secondary small', 'data-testid': 'add-diagnosis',
        on: {click: () => diagnosisRow(diagnoses)}}, 'Add diagnosis')),
    el('h3', {}, 'Lines'), lines,
    el('button', {type: 'button', class: 'secondary small', 'data-testid': 'add-line',
      on: {click: () => lineRow(lines, {service_date: firstDate(form)})}}, 'Add line'));
  for (const d of claim.diagnoses || []) diagnosisRow(diagnoses, d.code || '');
  if (!diagnoses.children.length) diagnosisRow(diagnoses);
  for (const line of claim.lines || []) lineRow(lines, line);
  if (!lines.children.length) lineRow(lines);
  return form;
}

const words = (text) => text.split(/[\s,]+/).filter(Boolean);

/** The contract claim the form holds (empty fields left out; the total defaults to the sum of the lines). */
function formClaim(form) {
  const claim = {};
  const set = (path, value) => {  // 'lines[2].units' -> claim.lines[1].units (contract paths count from 1)
    const keys = path.replace(/\[(\d+)\]/g, '.#$1').split('.').map(k => (k.startsWith('#') ? Number(k.slice(1)) - 1 : k));
    let node = claim;
    keys.slice(0, -1).forEach((k, i) => {
      node[k] = node[k] ?? (typeof keys[i + 1] === 'number' ? [] : {});
      node = node[k];
    });
    node[keys[keys.length - 1]] = value;
  };
  for (const control of form.querySelectorAll('[data-field]')) {
    const path = control.dataset.field;
    const raw = control.value.trim();
    if (/^lines\[\d+\]\./.test(path)) {
      set(path.replace(/\.[a-z_]+$/, '.line_number'), Number(path.match(/\d+/)[0]));
    }
    if (!raw) continue;
    if (path.endsWith('.modifiers')) set(path, words(raw).map(m => m.toUpperCase()));
    else if (path.endsWith('.diagnosis_pointers')) set(path, words(raw).map(p => (/^\d+$/.test(p) ? Number(p) : p)));
    else if (path.endsWith('.units')) set(path, Number.isNaN(Number(raw)) ? raw : Number(raw));
    else if (/code$|npi$/.test(path)) set(path, raw.toUpperCase());
    else set(path, raw);
  }
  claim.diagnoses = (claim.diagnoses || []).filter(Boolean);
  if (!claim.total_charge && claim.lines) {
    const cents = claim.lines.reduce((sum, l) => sum + Math.round(Number(l && l.charge || 0) * 100), 0);
    if (!Number.isNaN(cents)) claim.total_charge = (cents / 100).toFixed(2);
  }
  return claim;
}

function firstDate(form) {
  const control = form && form.querySelector('[data-field$=".service_date"]');
  return control && control.value ? control.value : '';
}

// ------------------------------------------------------------------------------ pasted or uploaded text

/** What the text is, and where it goes: {kind, path, contentType, body}. */
export function detect(text) {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (/^ISA/.test(trimmed)) return {kind: 'X12 837', path: '/v1/claims/scrub/x12', contentType: 'text/plain', many: true};
  let parsed;
  try { parsed = JSON.parse(trimmed); } catch { parsed = undefined; }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) &&
      (parsed.resourceType === 'Claim' || parsed.resourceType === 'Bundle')) {
    return {kind: `FHIR ${parsed.resourceType}`, path: '/v1/claims/scrub/fhir', contentType: 'application/fhir+json', many: true};
  }
  if (Array.isArray(parsed)) return {kind: 'JSON array', path: '/v1/claims/scrub/batch', contentType: 'application/json', many: true};
  if (parsed === undefined && trimmed.split('\n').filter(l => l.trim()).length > 1 && trimmed.startsWith('{')) {
    return {kind: 'NDJSON', path: '/v1/claims/scrub/batch', contentType: 'application/x-ndjson', many: true};
  }
  return {kind: 'JSON claim', path: '/v1/claims/scrub', contentType: 'application/json', many: false};
}

function pastePanel() {
  const id = uid('paste');
  const fileId = uid('file');
  const kind = el('span', {class: 'muted', 'data-testid': 'detected-kind', 'aria-live': 'polite'});
  const area = el('textarea', {id, rows: 16, 'data-testid': 'claim-text', spellcheck: 'false'});
  const file = el('input', {id: fileId, type: 'file', 'data-testid': 'claim-file',
    accept: '.json,.ndjson,.jsonl,.txt,.x12,.837,.edi,application/json,text/plain'});
  const show = () => { kind.textContent = area.value.trim() ? `Detected: ${detect(area.value).kind}` : ''; };
  area.addEventListener('input', show);
  file.addEventListener('change', async () => {
    if (file.files && file.files[0]) { area.value = await file.files[0].text(); show(); }
  });
  return {area, kind, node: el('div', {},
    el('label', {for: id}, 'Claim text: one JSON claim, a JSON array, NDJSON, an X12 837 or a FHIR Claim/Bundle'),
    area,
    el('div', {class: 'row'}, el('div', {}, el('label', {for: fileId}, 'Or upload a file'), file), kind))};
}

// ------------------------------------------------------------------------------------------- results

/** The reference data a finding names (a release, a table), from its message. */
function referenceNamed(message) {
  const found = [];
  for (const m of message.matchAll(/\b(NCCI|MUE|PPRRVU|HCPCS|ICD-10-CM|PFS)\b[^.;:]*?\brelease ([A-Za-z0-9_-]+)/g)) {
    found.push(`${m[1]} release ${m[2]}`);
  }
  for (const m of message.matchAll(/\bFY ?(\d{4})\b/g)) found.push(`FY${m[1]} code set`);
  return [...new Set(found)];
}

/** The code system of a line's procedure code for GET /v1/codes: letter first HCPCS, five characters CPT. */
function procedureSystem(code) {
  if (/^[A-Z][0-9A-Z]{4}$/.test(code)) return 'hcpcs';
  if (/^\d{4}[0-9A-Z]$/.test(code)) return 'cpt';
  return null;
}

/** The line of `claim` numbered `n` (its line_number, else its position). */
function claimLine(claim, n) {
  const lines = (claim && Array.isArray(claim.lines)) ? claim.lines : [];
  return lines.find(l => l && l.line_number === n) || lines[n - 1] || null;
}

/** The claim's first date of service (what a diagnosis is judged on), or ''. */
function claimDate(claim) {
  const dates = ((claim && Array.isArray(claim.lines)) ? claim.lines : [])
    .map(l => l && l.service_date).filter(d => typeof d === 'string' && d).sort();
  return dates[0] || '';
}

/** The `when:` block of a rule's YAML (what decides it), or the whole YAML when it has none. */
function whenPart(yamlText) {
  const lines = String(yamlText).split('\n');
  const start = lines.findIndex(l => /^when:/.test(l));
  if (start < 0) return yamlText;
  let end = start + 1;
  while (end < lines.length && (/^\s/.test(lines[end]) || !lines[end].trim())) end++;
  return lines.slice(start, end).join('\n').trimEnd();
}

const known = (term, value, testid) => fact(term, value, testid, null);  // a fact only when it is known

/** One code looked up on a date, as GET /v1/codes/{system}/{code} answers it. */
function codeFacts(title, info) {
  const fee = info.fee_schedule;
  const facts = [
    ...known('status', info.status, 'ref-status'), ...known('detail', info.detail, 'ref-detail'),
    ...known('description', info.description),
    ...known('effective', info.effective_date), ...known('terminated', info.termination_date),
    ...known('fiscal year', info.fiscal_year ? `FY${info.fiscal_year} code set` : null),
  ];
  if (fee) {
    facts.push(...known('fee schedule', `PPRRVU ${fee.release} (from ${fee.effective_from}` +
      `${fee.effective_to ? ` to ${fee.effective_to}` : ''})`, 'ref-fee-release'),
    ...known('PFS status', `${fee.status}: ${fee.status_meaning}`, 'ref-fee-status'),
    ...known('global days', fee.global_days),
    ...known('indicators', `PC/TC ${fee.pctc}, mult. proc. ${fee.mult_proc}, bilateral ${fee.bilateral}, ` +
      `assistant ${fee.assistant}, co-surgeon ${fee.co_surgeon}, team ${fee.team}`),
    ...known('modifier rows', (fee.modifiers || []).join(' ')));
  } else {
    facts.push(...known('fee schedule', info.fee_schedule_note, 'ref-fee-note'));
  }
  return el('div', {'data-testid': 'ref-code', dataset: {system: info.system, code: info.code, date: info.date}},
    el('h4', {}, title), el('dl', {class: 'ref-facts'}, facts));
}

/** The look-ups a finding's reference data needs: [{title, system, code, date}] for its lines and diagnosis. */
function lookupsOf(finding, claim) {
  const wanted = [];
  for (const n of finding.lines || []) {
    const line = claimLine(claim, n);
    const code = line && typeof line.procedure_code === 'string' ? line.procedure_code.trim().toUpperCase() : '';
    const system = procedureSystem(code);
    if (system) {
      wanted.push({title: `Line ${n}: ${code} (${system.toUpperCase()}) on ${line.service_date || 'today'}`,
        system, code, date: line.service_date || ''});
    }
  }
  const dx = /^diagnoses\[(\d+)\]/.exec(finding.field || '');
  const diagnosis = dx && claim && Array.isArray(claim.diagnoses) ? claim.diagnoses[Number(dx[1]) - 1] : null;
  if (diagnosis && typeof diagnosis.code === 'string' && /^[A-Za-z0-9.]+$/.test(diagnosis.code.trim())) {
    const date = claimDate(claim);
    wanted.push({title: `Diagnosis ${dx[1]}: ${diagnosis.code.trim()} (ICD-10-CM) on ${date || 'today'}`,
      system: 'icd10cm', code: diagnosis.code.trim().toUpperCase(), date});
  }
  return wanted;
}

/** A result's look-ups, each asked once (per system, code and date; per rule and payer). */
function lookupCache(api) {
  const answers = new Map();
  const once = (key, ask) => {
    if (!answers.has(key)) answers.set(key, ask().catch(err => { answers.delete(key); throw err; }));
    return answers.get(key);
  };
  return {
    code: ({system, code, date}) => once(`code ${system} ${code} ${date}`, () =>
      api(`/v1/codes/${system}/${encodeURIComponent(code)}${date ? `?${new URLSearchParams({date})}` : ''}`)),
    rule: (id, payer) => once(`rule ${id} ${payer}`, async () => {
      const path = `/v1/rules/${encodeURIComponent(id)}`;
      if (!payer) return api(path);
      try { return await api(`${path}?${new URLSearchParams({payer})}`); }
      catch (err) { if (err.status === 404) return api(path); throw err; }  // a payer with no profile: the base rule
    }),
  };
}

/** "Reference data" of a finding, fetched when first opened: the codes of the lines (and the diagnosis) it
 *  names on their dates, and the rule's condition for a role that may read rules. */
function referenceDisclosure(finding, {claim, canReadRules, cache}) {
  const body = el('div', {'data-testid': 'reference-body'});
  const details = el('details', {'data-testid': 'reference'}, el('summary', {}, 'Reference data'), body);
  let asked = false;
  details.addEventListener('toggle', async () => {
    if (!details.open || asked) return;
    asked = true;
    body.replaceChildren(el('p', {class: 'muted', 'data-testid': 'reference-loading'}, 'Loading…'));
    const wanted = claim ? lookupsOf(finding, claim) : [];
    const parts = await Promise.all([
      ...wanted.map(w => cache.code(w).then(info => codeFacts(w.title, info),
        err => el('div', {}, el('h4', {}, w.title), problemAlert(err, 'reference-error')))),
      canReadRules ? cache.rule(finding.rule_id, claim && claim.payer && claim.payer.id).then(
        rule => el('div', {'data-testid': 'ref-rule'}, el('h4', {}, `Rule ${rule.id}: its condition`),
          el('pre', {class: 'yaml', 'data-testid': 'rule-condition'}, whenPart(rule.yaml))),
        err => el('div', {}, el('h4', {}, `Rule ${finding.rule_id}`), problemAlert(err, 'reference-error'))) : null,
    ].filter(Boolean));
    if (!claim) parts.unshift(el('p', {class: 'muted'}, 'The claim was not sent as JSON: its codes are not looked up here.'));
    else if (!wanted.length) parts.unshift(el('p', {class: 'muted'}, 'The finding names no line code or diagnosis to look up.'));
    body.replaceChildren(...parts);
    details.dataset.loaded = 'true';
  });
  return details;
}

function findingRow(finding, line, canReadRules, refs) {
  const sev = finding.severity || 'info';
  const ruleLink = canReadRules
    ? el('a', {href: `#/rules/${encodeURIComponent(finding.rule_id)}`, 'data-testid': 'rule-link'}, finding.rule_id)
    : el('code', {}, finding.rule_id);
  const reference = referenceNamed(finding.message || '');
  const denial = [finding.carc, finding.rarc].filter(Boolean).join(' / ');
  return el('tr', {'data-testid': 'finding', dataset: {ruleId: finding.rule_id, line: line === null ? '' : String(line),
      severity: sev, category: finding.category}},
    el('td', {}, line === null ? 'claim' : String(line)),
    el('td', {class: `sev-${sev}`}, sev),
    el('td', {}, finding.category),
    el('td', {'data-testid': 'denial'}, denial || '—'),
    el('td', {}, finding.message, finding.field ? el('div', {class: 'why'}, 'field: ', el('code', {}, finding.field)) : null),
    el('td', {}, finding.suggestion || ''),
    el('td', {class: 'why', 'data-testid': 'why'}, 'rule ', ruleLink,
      finding.source ? el('div', {}, 'from ', el('code', {}, finding.source)) : null,
      reference.length ? el('div', {}, 'data: ', reference.join(', ')) : null,
      referenceDisclosure(finding, {...refs, canReadRules})));
}

function resultBlock(result, index, {claim, canReadRules, api}) {
  const refs = {claim: claim && typeof claim === 'object' ? claim : null, cache: lookupCache(api)};
  const block = el('section', {class: 'result panel', 'data-testid': 'result', dataset: {index: String(index)}});
  if (result.error) {  // an error record of a batch: this claim could not be read
    block.append(el('h3', {}, `Claim ${result.index ?? index + 1}`),
      problemAlert({problem: result.error, message: result.error.detail}, 'result-error'));
    return block;
  }
  const findings = [...(result.findings || [])].sort(
    (a, b) => (SEVERITY_ORDER[a.severity] ?? 3) - (SEVERITY_ORDER[b.severity] ?? 3));
  block.append(el('h3', {}, `Claim ${result.claim_id ?? index + 1} `,
    el('span', {class: `status status-${result.status}`, 'data-testid': 'status'}, result.status),
    el('span', {class: 'muted'}, ` ${findings.length} finding${findings.length === 1 ? '' : 's'}`,
      result.ruleset ? ` · rules ${result.ruleset.revision}` : '',
      result.scrub_id ? ` · scrub ${result.scrub_id}` : '')));
  if (!findings.length) { block.append(el('p', {'data-testid': 'no-findings'}, 'No findings: the claim is clean.')); return block; }
  const groups = new Map([[null, []]]);
  for (const f of findings) {
    if (!f.lines || !f.lines.length) groups.get(null).push(f);
    for (const n of f.lines || []) { if (!groups.has(n)) groups.set(n, []); groups.get(n).push(f); }
  }
  const order = [null, ...[...groups.keys()].filter(k => k !== null).sort((a, b) => a - b)];
  const body = el('tbody');
  for (const key of order) {
    const list = groups.get(key);
    if (!list.length) continue;
    const lineInfo = key !== null && claim && claim.lines ? claim.lines[key - 1] : null;
    const title = key === null ? 'Claim level' : `Line ${key}${lineInfo && lineInfo.procedure_code ? ` (${lineInfo.procedure_code})` : ''}`;
    body.append(el('tr', {class: 'line-head', 'data-testid': 'line-group', dataset: {line: key === null ? '' : String(key)}},
      el('th', {scope: 'colgroup', colspan: '7'}, title)));
    for (const f of list) body.append(findingRow(f, key, canReadRules, refs));
  }
  block.append(el('table', {'data-testid': 'findings'},
    el('thead', {}, el('tr', {}, ['Line', 'Severity', 'Category', 'Denial (CARC / RARC)', 'Finding', 'Suggestion', 'Why']
      .map(h => el('th', {scope: 'col'}, h)))), body));
  return block;
}

function parseNdjson(text) {
  return String(text).split('\n').filter(l => l.trim()).map(l => JSON.parse(l));
}

/** Mark the form's inputs named by findings or by an API problem's errors (aria-invalid). */
function markFields(form, paths) {
  for (const control of form.querySelectorAll('[data-field]')) {
    if (paths.has(control.dataset.field)) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  }
}

/** In the form, under each line: the findings on that line (rule id and message); cleared on each check. */
function showOnLines(form, findings) {
  for (const row of form.querySelectorAll('[data-testid="line"]')) {
    const n = Number(row.dataset.line);
    const mine = findings.filter(f => (f.lines || []).includes(n));
    const old = row.querySelector('.line-findings');
    if (old) old.remove();
    if (mine.length) {
      row.append(el('ul', {class: 'line-findings', 'data-testid': 'line-findings'}, mine.map(f =>
        el('li', {class: `sev-${f.severity || 'info'}`, dataset: {ruleId: f.rule_id}}, el('code', {}, f.rule_id), ': ', f.message))));
    }
  }
}

// ------------------------------------------------------------------------------------------ code look-up

/** The form's input a code of `system` goes in (ICD-10-CM: a diagnosis, HCPCS: a line's procedure code, a
 *  modifier: a line's modifiers, POS: a place of service), matched against the last focused input. */
const USE_TARGETS = {
  icd10cm: /^diagnoses\[\d+\]\.code$/,
  hcpcs: /^lines\[\d+\]\.procedure_code$/,
  modifier: /^lines\[\d+\]\.modifiers$/,
  pos: /^(lines\[\d+\]\.)?place_of_service$/,
};

function lookupPanel(ctx, dateOf, use) {
  const sysId = uid('sys'); const qId = uid('q'); const onId = uid('on');
  const system = el('select', {id: sysId, 'data-testid': 'code-system'}, SYSTEMS.map(([v, t]) => el('option', {value: v}, t)));
  const query = el('input', {id: qId, type: 'search', 'data-testid': 'code-query', autocomplete: 'off', required: true});
  const on = el('input', {id: onId, type: 'date', 'data-testid': 'code-date'});
  const results = el('ul', {class: 'code-results', 'data-testid': 'code-results', 'aria-live': 'polite'});
  const errors = el('div');
  const used = el('p', {role: 'status', class: 'muted', 'data-testid': 'use-status'});
  const form = el('form', {role: 'search', 'data-testid': 'code-search'},
    el('div', {}, el('label', {for: sysId}, 'Code set'), system),
    el('div', {}, el('label', {for: qId}, 'Code or words'), query),
    el('div', {}, el('label', {for: onId}, 'Valid on (default: the claim\'s date, else today)'), on),
    el('div', {class: 'actions'}, el('button', {type: 'submit'}, 'Search')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    used.textContent = '';
    const day = on.value || dateOf() || today();
    const params = new URLSearchParams({q: query.value.trim(), on: day, limit: '20'});
    try {
      const answer = await ctx.api(`/v1/codes/${system.value}?${params}`);
      results.replaceChildren(...(answer.codes.length ? answer.codes.map(c =>
        el('li', {'data-testid': 'code-result', dataset: {code: c.code}},
          el('code', {}, c.code), ' ', c.description,
          c.billable === false ? el('span', {class: 'muted'}, ' (header: not billable)') : null,
          c.termination_date ? el('span', {class: 'muted'}, ` (until ${c.termination_date})`) : null, ' ',
          el('button', {type: 'button', class: 'secondary small', 'data-testid': 'use-code',
            'aria-label': `Use ${c.code} in the claim form`,
            on: {click: () => { used.textContent = use(answer.system, c.code); }}}, 'Use')))
        : [el('li', {'data-testid': 'no-codes'}, `No ${system.selectedOptions[0].textContent} code valid on ${answer.date} matches.`)]));
      results.prepend(el('li', {class: 'muted'}, `valid on ${answer.date}${answer.fiscal_year ? `, FY${answer.fiscal_year} code set` : ''}`));
    } catch (err) {
      results.replaceChildren();
      errors.replaceChildren(problemAlert(err, 'code-error'));
    }
  });
  return el('aside', {class: 'panel', 'aria-labelledby': 'lookup-title', 'data-testid': 'code-lookup'},
    el('h2', {id: 'lookup-title'}, 'Code look-up'), form, errors, used, results);
}

// ----------------------------------------------------------------------------------------------- screen

export async function render(root, ctx) {
  const canReadRules = ['coder', 'compliance', 'admin'].includes(ctx.role);
  if (kept && kept.role !== ctx.role) kept = null;
  let mode = kept ? kept.mode : 'form';
  let form = kept ? kept.form : claimForm({claim_type: 'professional', lines: [{service_date: today()}]});
  const formHolder = el('div', {}, form);
  const paste = kept ? kept.paste : pastePanel();
  kept = {role: ctx.role, form, paste, mode};
  markFields(form, new Set()); showOnLines(form, []);  // the marks of a result no longer shown
  let lastField = null;  // the form's input last focused: where "Use" puts a looked-up code
  formHolder.addEventListener('focusin', (event) => { if (event.target.dataset && event.target.dataset.field) lastField = event.target; });
  const results = el('div', {'data-testid': 'results', 'aria-live': 'polite'});
  const checkButton = el('button', {type: 'button', 'data-testid': 'check'}, 'Check');
  const tabForm = el('button', {type: 'button', 'aria-pressed': 'true', 'data-testid': 'mode-form'}, 'Fill a form');
  const tabPaste = el('button', {type: 'button', 'aria-pressed': 'false', 'data-testid': 'mode-paste'}, 'Paste or upload');
  const exampleButton = el('button', {type: 'button', class: 'secondary', 'data-testid': 'load-example'}, 'Load example');
  const clearButton = el('button', {type: 'button', class: 'secondary', 'data-testid': 'clear'}, 'Clear');
  const setMode = (next) => {
    mode = next;
    kept.mode = next;
    tabForm.setAttribute('aria-pressed', String(mode === 'form'));
    tabPaste.setAttribute('aria-pressed', String(mode === 'paste'));
    formHolder.hidden = mode !== 'form';
    paste.node.hidden = mode !== 'paste';
    exampleButton.hidden = mode !== 'form';
    checkButton.textContent = 'Check';
    results.replaceChildren();
  };
  tabForm.addEventListener('click', () => setMode('form'));
  tabPaste.addEventListener('click', () => setMode('paste'));
  exampleButton.addEventListener('click', () => {
    form = claimForm(EXAMPLE); kept.form = form; formHolder.replaceChildren(form); results.replaceChildren(); checkButton.textContent = 'Check';
  });
  clearButton.addEventListener('click', () => {
    if (mode === 'form') {
      form = claimForm({claim_type: 'professional', lines: [{service_date: today()}]}); kept.form = form;
      formHolder.replaceChildren(form);
    }
    else { paste.area.value = ''; paste.kind.textContent = ''; }
    results.replaceChildren(); checkButton.textContent = 'Check';
  });

  async function runCheck() {
    checkButton.disabled = true;
    const busy = el('p', {class: 'muted', 'data-testid': 'checking'}, 'Checking…');
    results.replaceChildren(busy);
    try {
      let answers; let claims = [];
      if (mode === 'form') {
        const claim = formClaim(form);
        claims = [claim];
        answers = [await ctx.api('/v1/claims/scrub', {method: 'POST', body: claim})];
      } else {
        const text = paste.area.value;
        if (!text.trim()) throw new Error('Paste a claim or choose a file first.');
        const target = detect(text);
        paste.kind.textContent = `Detected: ${target.kind}`;
        const answer = await ctx.api(target.path, {method: 'POST', body: text, contentType: target.contentType});
        answers = target.many ? parseNdjson(answer) : [answer];
        if (target.kind === 'JSON claim') { try { claims = [JSON.parse(text)]; } catch { claims = []; } }
        else if (target.kind === 'JSON array') { try { claims = JSON.parse(text); } catch { claims = []; } }
        else if (target.kind === 'NDJSON') {
          claims = text.split('\n').filter(l => l.trim()).map(l => { try { return JSON.parse(l); } catch { return null; } });
        }
      }
      results.replaceChildren(el('h2', {}, answers.length === 1 ? 'Result' : `Results: ${answers.length} claims`),
        ...answers.map((a, i) => resultBlock(a, i, {claim: claims[i], canReadRules, api: ctx.api})));
      if (mode === 'form') {
        markFields(form, new Set(answers.flatMap(a => (a.findings || []).map(f => f.field)).filter(Boolean)));
        showOnLines(form, answers[0].findings || []);
      }
      checkButton.textContent = 'Re-check';
    } catch (err) {
      results.replaceChildren(problemAlert(err, 'check-error'));
      if (mode === 'form') showOnLines(form, []);
      if (mode === 'form' && err.problem && err.problem.errors) {
        // a 422's field paths count list items from 0 (pydantic), findings' from 1 (line numbers)
        const fromOne = (path) => String(path).replace(/\[(\d+)\]/g, (_, i) => `[${Number(i) + 1}]`);
        markFields(form, new Set(err.problem.errors.map(e => fromOne(e.field))));
      }
    } finally {
      checkButton.disabled = false;
    }
  }
  checkButton.addEventListener('click', runCheck);

  /** Put a looked-up code in the form: the last focused input of its kind, else an empty one, else a new
   *  diagnosis or line (a modifier: line 1's modifiers; a POS: the claim's); says where it went. */
  function useCode(system, code) {
    if (mode !== 'form') setMode('form');
    const kind = USE_TARGETS[system];
    const inputs = [...form.querySelectorAll('[data-field]')].filter(c => kind.test(c.dataset.field));
    let target = lastField && form.contains(lastField) && kind.test(lastField.dataset.field) ? lastField : null;
    if (!target && system === 'pos') target = form.querySelector('[data-field="place_of_service"]');
    if (!target && system === 'modifier') target = inputs[0];
    if (!target) target = inputs.find(c => !c.value.trim());
    if (!target && system === 'icd10cm') { diagnosisRow(form.querySelector('[data-testid="diagnoses"]')); }
    if (!target && system === 'hcpcs') lineRow(form.querySelector('[data-testid="lines"]'), {service_date: firstDate(form)});
    if (!target) target = [...form.querySelectorAll('[data-field]')].filter(c => kind.test(c.dataset.field)).pop();
    if (system === 'modifier') {
      const have = words(target.value.toUpperCase());
      if (!have.includes(code)) target.value = [...have, code].join(' ');
    } else {
      target.value = code;
    }
    lastField = target;
    const label = target.getAttribute('aria-label') || (target.labels && target.labels[0] ? target.labels[0].textContent : target.dataset.field);
    return `${code} put in ${label}.`;
  }

  const dateOf = () => (mode === 'form' ? firstDate(form) : '');
  root.append(el('h1', {}, 'Check a claim'),
    el('div', {class: 'check-layout'},
      el('div', {},
        el('div', {class: 'tabs', role: 'group', 'aria-label': 'How to give the claim'}, tabForm, tabPaste),
        formHolder, paste.node,
        el('div', {class: 'actions'}, checkButton, exampleButton, clearButton),
        results),
      lookupPanel(ctx, dateOf, useCode)));
  setMode(mode);
}
