// Stored scrubs behind a dashboard bar or a rule (#/scrubs?rule=&category=&severity=&payer=&status=&from=&to=):
// GET /v1/scrubs with those filters, newest first, paged; opening one reads GET /v1/scrubs/{id} and shows
// its findings, and the patient as the API returns it (masked "***" for the roles that may not see PHI).
import {el, fact, problemAlert} from './app.js';

// the hash's filter names (non-PHI) and the API's query parameters
const FILTERS = {rule: 'rule_id', category: 'category', severity: 'severity', payer: 'payer', status: 'status',
  from: 'from', to: 'to'};
const PAGE = 100;
const RULE_READERS = ['compliance', 'coder', 'admin'];  // who may open #/rules (GET /v1/rules)

function query(params, cursor) {
  const out = new URLSearchParams({limit: String(PAGE)});
  for (const [name, param] of Object.entries(FILTERS)) {
    const value = params.get(name);
    if (value) out.set(param, value);
  }
  if (cursor) out.set('cursor', cursor);
  return out;
}

function row(item, open) {
  const button = el('button', {type: 'button', class: 'link-button', 'aria-label': `Open scrub ${item.scrub_id}`},
    item.scrub_id);
  button.addEventListener('click', () => open(item.scrub_id));
  return el('tr', {'data-testid': 'scrub-row', dataset: {scrubId: item.scrub_id, status: item.status}},
    el('th', {scope: 'row'}, button),
    el('td', {}, item.claim_id ?? '–'),
    el('td', {}, item.payer_id ?? '–'),
    el('td', {}, el('span', {class: `status status-${item.status}`}, item.status)),
    el('td', {}, item.created_at.replace('T', ' ').slice(0, 19)),
    el('td', {'data-testid': 'scrub-finding-count'}, String(item.finding_count)));
}

/** One stored scrub: its facts, the patient as returned, and its findings. */
function detail(scrub, ruleLinks) {
  const patient = (scrub.claim && scrub.claim.patient) || {};
  const name = [patient.first_name, patient.last_name].filter(Boolean).join(' ');
  const findings = scrub.result.findings;
  return el('section', {class: 'panel scrub-detail', 'data-testid': 'scrub-detail', 'aria-label': 'Stored scrub',
    dataset: {scrubId: scrub.scrub_id}},
    el('h2', {}, `Scrub ${scrub.scrub_id}`),
    el('dl', {class: 'facts'},
      fact('Claim id', scrub.claim_id, 'scrub-claim-id'),
      fact('Status', scrub.status, 'scrub-status'),
      fact('Payer', scrub.payer_id, 'scrub-payer'),
      fact('Created', scrub.created_at, 'scrub-created'),
      fact('Rule set', scrub.revision, 'scrub-revision'),
      fact('Patient member id', patient.member_id, 'patient-member-id'),
      fact('Patient name', name || null, 'patient-name'),
      fact('Patient birth date', patient.birth_date, 'patient-birth-date')),
    el('table', {'data-testid': 'scrub-findings'},
      el('caption', {}, `${findings.length} finding(s)`),
      el('thead', {}, el('tr', {}, ['Rule', 'Severity', 'Category', 'Lines', 'Field', 'Denial', 'Message']
        .map(h => el('th', {scope: 'col'}, h)))),
      el('tbody', {}, findings.map(f => el('tr', {'data-testid': 'scrub-finding',
        dataset: {ruleId: f.rule_id, line: f.lines.join(',')}},
        el('td', {}, ruleLinks ? el('a', {href: `#/rules/${encodeURIComponent(f.rule_id)}`}, f.rule_id) : f.rule_id),
        el('td', {class: `sev-${f.severity}`}, f.severity),
        el('td', {}, f.category),
        el('td', {}, f.lines.join(', ') || 'claim'),
        el('td', {}, f.field ?? ''),
        el('td', {}, [f.carc, f.rarc].filter(Boolean).join(' / ')),
        el('td', {}, f.message))))));
}

export async function render(root, ctx) {
  const shown = Object.keys(FILTERS).filter(name => ctx.params.get(name))
    .map(name => el('li', {'data-testid': 'scrub-filter', dataset: {name}}, `${name}: `, el('code', {}, ctx.params.get(name))));
  const body = el('tbody', {});
  const table = el('table', {'data-testid': 'scrubs'},
    el('caption', {}, 'Stored scrubs, newest first'),
    el('thead', {}, el('tr', {}, ['Scrub id', 'Claim id', 'Payer', 'Status', 'Created (UTC)', 'Findings']
      .map(h => el('th', {scope: 'col'}, h)))),
    body);
  const count = el('p', {class: 'muted', 'data-testid': 'scrub-count', 'aria-live': 'polite'});
  const more = el('button', {type: 'button', class: 'secondary', hidden: true, 'data-testid': 'scrubs-more'}, 'Show more');
  const opened = el('div', {'data-testid': 'scrub-opened'});
  root.append(el('h1', {}, 'Stored scrubs'),
    el('p', {}, el('a', {href: '#/dashboard'}, '← Dashboard')),
    shown.length ? el('ul', {class: 'filters', 'aria-label': 'Filters'}, shown) : el('p', {class: 'muted'}, 'No filter: every scrub you may read.'),
    count, table, more, opened);

  async function open(scrubId) {
    opened.replaceChildren(el('p', {class: 'muted'}, 'Loading…'));
    try {
      const scrub = await ctx.api(`/v1/scrubs/${encodeURIComponent(scrubId)}`);
      opened.replaceChildren(detail(scrub, RULE_READERS.includes(ctx.role)));
      opened.querySelector('h2').setAttribute('tabindex', '-1');
      opened.querySelector('h2').focus();
    } catch (err) {
      opened.replaceChildren(problemAlert(err));
    }
  }

  let listed = 0;
  async function load(cursor) {
    const page = await ctx.api(`/v1/scrubs?${query(ctx.params, cursor)}`);
    body.append(...page.items.map(item => row(item, open)));
    listed += page.items.length;
    count.textContent = `${listed} scrub(s)${page.next_cursor ? ' so far' : ''}`;
    count.dataset.count = String(listed);
    more.hidden = !page.next_cursor;
    more.onclick = page.next_cursor ? () => load(page.next_cursor).catch(err => root.append(problemAlert(err))) : null;
  }
  await load(null);
}
