// Dashboard: the clean-claim rate over time, findings by category and by payer, the top failing rules
// (GET /v1/stats), as SVG charts with their numbers as text; each bar and row links to the stored scrubs
// behind it (#/scrubs?<filters>). The window (from, to, payer) lives in the hash: no PHI is ever in it.
import {el} from './app.js';
import {barChart, timeChart} from './charts.js';

const DAY_MS = 86400000;

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

/** Percent text of a share (0..1), or a dash when there is none. */
export function percent(share) {
  return share === null || share === undefined ? '–' : `${(share * 100).toFixed(1)}%`;
}

/** '#/scrubs?...' with the given non-PHI filters (empty ones left out). */
export function scrubsHash(filters) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
  return `#/scrubs?${query}`;
}

function windowOf(params) {
  const today = new Date();
  return {
    from: params.get('from') || isoDay(new Date(today.getTime() - 29 * DAY_MS)),
    to: params.get('to') || isoDay(today),
    payer: params.get('payer') || '',
  };
}

function filterForm(win, navigate) {
  const field = (id, label, input) => el('div', {}, el('label', {for: id}, label), input);
  const from = el('input', {id: 'dash-from', type: 'date', value: win.from, 'data-testid': 'dash-from'});
  const to = el('input', {id: 'dash-to', type: 'date', value: win.to, 'data-testid': 'dash-to'});
  const payer = el('input', {id: 'dash-payer', value: win.payer, placeholder: 'all payers', class: 'mid',
    'data-testid': 'dash-payer', maxlength: '40'});
  const form = el('form', {class: 'row', 'data-testid': 'dash-filters'},
    field('dash-from', 'From', from), field('dash-to', 'To', to), field('dash-payer', 'Payer id', payer),
    el('div', {}, el('button', {type: 'submit'}, 'Show')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    if (from.value) query.set('from', from.value);
    if (to.value) query.set('to', to.value);
    if (payer.value.trim()) query.set('payer', payer.value.trim());
    navigate(`#/dashboard?${query}`);
  });
  return form;
}

function stat(testid, label, value, text) {
  return el('div', {class: 'stat'}, el('span', {class: 'stat-label'}, label),
    el('span', {class: 'stat-value', 'data-testid': testid, dataset: {value: String(value ?? '')}}, text ?? String(value)));
}

/** A table of the numbers behind a chart: [{cells: [...], href}], the first cell linking to the scrubs. */
function numbers(caption, headings, rows, testid) {
  return el('table', {class: 'numbers', 'data-testid': `${testid}-table`},
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, headings.map(h => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, rows.map(r => el('tr', {'data-testid': `${testid}-row`, dataset: r.data || {}},
      r.cells.map((c, i) => i === 0
        ? el('th', {scope: 'row'}, r.href ? el('a', {href: r.href}, c) : c)
        : el('td', {}, c))))));
}

function section(title, testid, ...content) {
  return el('section', {class: 'panel chart-panel', 'data-testid': testid, 'aria-label': title},
    el('h2', {}, title), ...content);
}

export async function render(root, ctx) {
  const win = windowOf(ctx.params);
  root.append(el('h1', {}, 'Dashboard'), filterForm(win, ctx.navigate));
  const query = new URLSearchParams({from: win.from, to: win.to});
  if (win.payer) query.set('payer', win.payer);
  const stats = await ctx.api(`/v1/stats?${query}`);
  const scope = {from: win.from, to: win.to, payer: win.payer};

  root.append(el('div', {class: 'stats', 'data-testid': 'stats'},
    stat('stat-scrubs', 'Scrubs', stats.scrubs),
    stat('stat-passed', 'Passed', stats.passed),
    stat('stat-warned', 'Warned', stats.warned),
    stat('stat-failed', 'Failed', stats.failed),
    stat('stat-clean-rate', 'Clean-claim rate', stats.clean_claim_rate, percent(stats.clean_claim_rate))));

  const days = stats.by_day.map(d => ({
    date: d.date, value: d.clean_claim_rate, text: `${percent(d.clean_claim_rate)} of ${d.scrubs}`,
    href: scrubsHash({from: d.date, to: d.date, payer: win.payer}), data: {date: d.date}}));
  root.append(section('Clean-claim rate per day', 'chart-days',
    timeChart(days, {title: 'Clean-claim rate per day (UTC)'}),
    numbers('Scrubs per day', ['Day', 'Scrubs', 'Passed', 'Warned', 'Failed', 'Clean-claim rate'],
      stats.by_day.map(d => ({cells: [d.date, d.scrubs, d.passed, d.warned, d.failed, percent(d.clean_claim_rate)],
        href: scrubsHash({from: d.date, to: d.date, payer: win.payer}), data: {date: d.date}})), 'day')));

  const categories = Object.entries(stats.findings_by_category).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  root.append(section('Findings by category', 'chart-categories',
    barChart(categories.map(([name, n]) => ({label: name, value: n, href: scrubsHash({...scope, category: name}),
      data: {category: name}})), {title: 'Findings by category', testid: 'category-bar'}),
    numbers('Findings by category', ['Category', 'Findings'],
      categories.map(([name, n]) => ({cells: [name, n], href: scrubsHash({...scope, category: name}),
        data: {category: name}})), 'category')));

  const payerHref = p => p.payer === null ? null : scrubsHash({...scope, payer: p.payer});
  root.append(section('By payer', 'chart-payers',
    barChart(stats.by_payer.map(p => ({label: p.payer ?? '(no payer)', value: p.findings,
      text: `${p.findings}`, href: payerHref(p),
      data: {payer: p.payer ?? ''}})), {title: 'Findings by payer', testid: 'payer-bar'}),
    numbers('Scrubs and findings by payer', ['Payer', 'Scrubs', 'Failed', 'Findings', 'Clean-claim rate'],
      stats.by_payer.map(p => ({cells: [p.payer ?? '(no payer)', p.scrubs, p.failed, p.findings,
        percent(p.clean_claim_rate)], href: payerHref(p), data: {payer: p.payer ?? ''}})), 'payer')));

  const failing = stats.top_failing_rules;
  const ruleHref = r => scrubsHash({...scope, rule: r.rule_id, severity: 'error'});
  root.append(section('Top failing rules', 'chart-rules',
    barChart(failing.map(r => ({label: r.rule_id, value: r.failed_scrubs, kind: 'fail',
      text: `${r.failed_scrubs} (${percent(r.share_of_scrubs)})`, href: ruleHref(r), data: {ruleId: r.rule_id}})),
    {title: 'Scrubs failed by each rule', testid: 'rule-bar', labelWidth: 260}),
    numbers('Top failing rules', ['Rule', 'Failed scrubs', 'Share of scrubs'],
      failing.map(r => ({cells: [r.rule_id, r.failed_scrubs, percent(r.share_of_scrubs)], href: ruleHref(r),
        data: {ruleId: r.rule_id}})), 'failing')));
}
