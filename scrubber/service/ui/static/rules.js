// Rules: the catalogue of every rule in force, base and per payer (GET /v1/rules), searchable by text,
// category, severity and payer, with how often each fired in the last 30 days; a rule's page
// (#/rules/<id>?payer=) with its YAML and examples (GET /v1/rules/{id}); the payer profiles with what each
// changes; and a Validate panel: an editor with line numbers where a candidate rule or payer file is
// linted (POST /v1/rules/validate, problems shown at their line and column) and its what-if impact on the
// stored claims measured (POST /v1/rules/impact).
import {el, fact, problemAlert} from './app.js';

const SEVERITIES = ['error', 'warning', 'info'];

function ruleHash(rule) {
  return `#/rules/${encodeURIComponent(rule.id)}${rule.payer ? `?payer=${encodeURIComponent(rule.payer)}` : ''}`;
}

function effective(rule) {
  if (!rule.effective_from && !rule.effective_to) return 'always';
  return `${rule.effective_from ?? '…'} to ${rule.effective_to ?? '…'}`;
}

function denial(rule) {
  return [rule.carc, rule.rarc].filter(Boolean).join(' / ') || '–';
}

function select(id, label, values, all) {
  const input = el('select', {id, 'data-testid': id}, el('option', {value: ''}, all),
    values.map(v => el('option', {value: v.value ?? v}, v.label ?? v)));
  return [input, el('div', {}, el('label', {for: id}, label), input)];
}

// ---------------------------------------------------------------------------------------------- catalogue

function catalogue(list) {
  const rules = list.rules;
  const categories = [...new Set(rules.map(r => r.category))].sort();
  const payers = [...new Set(rules.map(r => r.payer).filter(Boolean))].sort();
  const search = el('input', {id: 'rule-search', type: 'search', placeholder: 'id, title or source',
    'data-testid': 'rule-search'});
  const [category, categoryField] = select('rule-category', 'Category', categories, 'every category');
  const [severity, severityField] = select('rule-severity', 'Severity', SEVERITIES, 'every severity');
  const [payer, payerField] = select('rule-payer', 'Payer',
    [{value: '-', label: 'base rules only'}, ...payers.map(p => ({value: p, label: `${p}'s own and changed rules`}))],
    'base and every payer');
  const count = el('p', {class: 'muted', 'data-testid': 'rule-count', 'aria-live': 'polite'});
  const body = el('tbody', {});
  const rows = rules.map(rule => ({rule, row: el('tr', {'data-testid': 'rule-row',
    dataset: {ruleId: rule.id, payer: rule.payer ?? '', category: rule.category, severity: rule.severity}},
    el('th', {scope: 'row'}, el('a', {href: ruleHash(rule)}, rule.id)),
    el('td', {}, rule.title),
    el('td', {}, rule.category),
    el('td', {class: `sev-${rule.severity}`}, rule.severity),
    el('td', {}, denial(rule)),
    el('td', {}, effective(rule)),
    el('td', {}, el('code', {}, rule.source)),
    el('td', {}, rule.payer ?? 'base'),
    el('td', {class: 'num', 'data-testid': 'rule-fired'}, String(rule.fired_30d)))}));

  function apply() {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = rows.filter(({rule}) => {
      const text = `${rule.id} ${rule.title} ${rule.source} ${rule.carc ?? ''} ${rule.rarc ?? ''}`.toLowerCase();
      return words.every(w => text.includes(w))
        && (!category.value || rule.category === category.value)
        && (!severity.value || rule.severity === severity.value)
        && (!payer.value || (payer.value === '-' ? rule.payer === null : rule.payer === payer.value));
    });
    body.replaceChildren(...shown.map(s => s.row));
    count.textContent = `${shown.length} of ${rows.length} rules (rule set ${list.revision})`;
    count.dataset.count = String(shown.length);
  }
  for (const input of [search, category, severity, payer]) input.addEventListener('input', apply);
  apply();
  return el('section', {'aria-label': 'Rule catalogue', 'data-testid': 'rule-catalogue'},
    el('div', {class: 'row'}, el('div', {}, el('label', {for: 'rule-search'}, 'Search'), search),
      categoryField, severityField, payerField),
    count,
    el('div', {class: 'table-scroll'}, el('table', {'data-testid': 'rules'},
      el('caption', {}, 'Rules in force'),
      el('thead', {}, el('tr', {}, ['Rule', 'Title', 'Category', 'Severity', 'CARC / RARC', 'Effective', 'Source',
        'Payer', 'Fired (30 days)'].map(h => el('th', {scope: 'col'}, h)))),
      body)));
}

// ---------------------------------------------------------------------------------------------- payer profiles

/** What a payer's profile changes: its own rules, base rules it changes, base rules it turns off. */
async function payerChanges(ctx, payer, baseIds) {
  const inForce = (await ctx.api(`/v1/rules?payer=${encodeURIComponent(payer)}`)).rules;
  const ids = new Set(inForce.map(r => r.id));
  const own = inForce.filter(r => r.payer === payer && !baseIds.has(r.id));
  const changed = inForce.filter(r => r.payer === payer && baseIds.has(r.id));
  const off = [...baseIds].filter(id => !ids.has(id)).sort();
  const list = (title, testid, items) => el('div', {}, el('h4', {}, `${title} (${items.length})`),
    items.length ? el('ul', {'data-testid': testid}, items) : el('p', {class: 'muted'}, 'none'));
  return el('div', {class: 'payer-changes', 'data-testid': 'payer-changes', dataset: {payer}},
    list('Its own rules', 'payer-own', own.map(r => el('li', {}, el('a', {href: ruleHash(r)}, r.id), ` ${r.title}`))),
    list('Base rules it changes', 'payer-changed', changed.map(r => el('li', {},
      el('a', {href: ruleHash(r)}, r.id), ` now ${r.severity}`, r.carc ? `, ${denial(r)}` : ''))),
    list('Base rules it turns off', 'payer-disabled', off.map(id => el('li', {}, el('a', {href: `#/rules/${id}`}, id)))));
}

function payerProfiles(ctx, list) {
  const baseIds = new Set(list.rules.filter(r => r.payer === null && r.source !== 'payers').map(r => r.id));
  const payers = [...new Set(list.rules.map(r => r.payer).filter(Boolean))].sort();
  return el('section', {'aria-label': 'Payer profiles', 'data-testid': 'payer-profiles'},
    el('h2', {}, 'Payer profiles'),
    payers.length ? payers.map(payer => {
      const versions = list.rules.filter(r => r.payer === payer);
      const profile = versions.map(r => r.source).find(source => source.startsWith('payers/'));
      const box = el('details', {'data-testid': 'payer-profile', dataset: {payer}},
        el('summary', {}, el('strong', {}, payer), profile ? ` (${profile})` : '',
          `: ${versions.length} rules of its own or changed`));
      box.addEventListener('toggle', async () => {
        if (!box.open || box.dataset.loaded) return;
        box.dataset.loaded = '1';
        try {
          box.append(await payerChanges(ctx, payer, baseIds));
        } catch (err) {
          box.append(problemAlert(err));
        }
      });
      return box;
    }) : el('p', {class: 'muted'}, 'No payer profile is loaded.'));
}

// ---------------------------------------------------------------------------------------------- validate

function problemText(p) {
  return `${p.file}:${p.line}:${p.column}: ${p.message}${p.rule_id ? ` (${p.rule_id})` : ''}`;
}

function impactReport(report) {
  const changes = Object.entries(report.status_changes);
  return el('div', {class: 'impact', 'data-testid': 'impact-report'},
    el('h3', {}, 'What-if impact'),
    el('dl', {class: 'facts'},
      fact('Rule set now', report.current_revision, 'impact-current'),
      fact('Candidate', report.candidate_revision, 'impact-candidate'),
      fact('Claims measured', report.claims, 'impact-claims'),
      fact('Claims whose result changes', report.changed_claims, 'impact-changed'),
      fact('Newly failing', report.newly_failing, 'impact-newly-failing'),
      fact('Newly passing', report.newly_passing, 'impact-newly-passing'),
      fact('Rules added', report.added_rules.join(', ') || 'none', 'impact-added'),
      fact('Rules removed', report.removed_rules.join(', ') || 'none', 'impact-removed')),
    changes.length ? el('p', {}, 'Status changes: ', changes.map(([k, n]) => `${k}: ${n}`).join('; ')) : null,
    report.rules.length ? el('table', {'data-testid': 'impact-rules'},
      el('caption', {}, 'Per rule'),
      el('thead', {}, el('tr', {}, ['Rule', 'Newly reports', 'No longer reports', 'Example claims (newly / no longer)']
        .map(h => el('th', {scope: 'col'}, h)))),
      el('tbody', {}, report.rules.map(r => el('tr', {'data-testid': 'impact-rule', dataset: {ruleId: r.rule_id}},
        el('th', {scope: 'row'}, r.rule_id),
        el('td', {}, String(r.newly_fired)), el('td', {}, String(r.no_longer_fired)),
        el('td', {}, `${r.example_claims_fired.join(', ') || '–'} / ${r.example_claims_cleared.join(', ') || '–'}`)))))
      : el('p', {class: 'muted'}, 'No rule would report a claim differently.'));
}

function validatePanel(ctx) {
  const name = el('input', {id: 'candidate-name', value: 'payers/new.yaml', class: 'wide', maxlength: '200',
    'data-testid': 'candidate-name'});
  const text = el('textarea', {id: 'candidate-text', rows: 18, wrap: 'off', spellcheck: 'false',
    'data-testid': 'candidate-text', 'aria-describedby': 'candidate-hint'});
  const gutter = el('div', {class: 'gutter', 'aria-hidden': 'true', 'data-testid': 'gutter'});
  const output = el('div', {'data-testid': 'validate-output', 'aria-live': 'polite'});
  let marked = new Map();  // line -> problems on it

  function drawGutter() {
    const lines = Math.max(text.value.split('\n').length, 1);
    gutter.replaceChildren(...Array.from({length: lines}, (_, i) => el('div', {
      class: marked.has(i + 1) ? 'gutter-line has-problem' : 'gutter-line', 'data-testid': 'gutter-line',
      dataset: {line: String(i + 1)}, title: marked.has(i + 1) ? marked.get(i + 1).join('\n') : null}, String(i + 1))));
    gutter.scrollTop = text.scrollTop;
  }
  text.addEventListener('input', () => { marked = new Map(); drawGutter(); });
  text.addEventListener('scroll', () => { gutter.scrollTop = text.scrollTop; });

  /** Put the caret at a line and column of the editor. */
  function goTo(line, column) {
    const lines = text.value.split('\n');
    let at = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) at += lines[i].length + 1;
    at += Math.max(column - 1, 0);
    text.focus();
    text.setSelectionRange(at, at);
  }

  function showProblems(problems, file) {
    marked = new Map();
    for (const p of problems) {
      if (p.file === file) marked.set(p.line, [...(marked.get(p.line) || []), `${p.column}: ${p.message}`]);
    }
    drawGutter();
    return el('ol', {class: 'problems', 'data-testid': 'lint-problems'}, problems.map(p => {
      const jump = el('button', {type: 'button', class: 'link-button'}, problemText(p));
      if (p.file === file) jump.addEventListener('click', () => goTo(p.line, p.column));
      return el('li', {'data-testid': 'lint-problem', dataset: {file: p.file, line: String(p.line),
        column: String(p.column)}}, jump);
    }));
  }

  async function validate() {
    output.replaceChildren(el('p', {class: 'muted'}, 'Validating…'));
    const file = name.value.trim();
    try {
      const result = await ctx.api(`/v1/rules/validate?name=${encodeURIComponent(file)}`,
        {method: 'POST', body: text.value, contentType: 'application/yaml'});
      if (result.valid) {
        marked = new Map();
        drawGutter();
        output.replaceChildren(el('p', {class: 'ok', 'data-testid': 'lint-valid'},
          `Valid: ${result.rules} rule(s) from ${file} load with the rules in force.`));
      } else {
        output.replaceChildren(el('p', {role: 'alert', class: 'error', 'data-testid': 'lint-invalid'},
          `${result.problems.length} problem(s):`), showProblems(result.problems, file));
      }
    } catch (err) {
      output.replaceChildren(problemAlert(err));
    }
  }

  async function impact() {
    output.replaceChildren(el('p', {class: 'muted'}, 'Measuring the impact on the stored claims…'));
    const file = name.value.trim();
    try {
      const report = await ctx.api('/v1/rules/impact', {method: 'POST', body: {files: [{name: file, text: text.value}]}});
      output.replaceChildren(impactReport(report));
    } catch (err) {
      // the candidate's lint problems come as errors[].field "file:line:column"
      const problems = ((err.problem && err.problem.errors) || []).map(e => {
        const m = /^(.*):(\d+):(\d+)$/.exec(e.field || '');
        return m ? {file: m[1], line: Number(m[2]), column: Number(m[3]), message: e.message, rule_id: null} : null;
      }).filter(Boolean);
      output.replaceChildren(problemAlert(err), problems.length ? showProblems(problems, file) : '');
    }
  }

  const validateButton = el('button', {type: 'button', 'data-testid': 'validate'}, 'Validate');
  const impactButton = el('button', {type: 'button', class: 'secondary', 'data-testid': 'impact'}, 'What-if impact');
  validateButton.addEventListener('click', validate);
  impactButton.addEventListener('click', impact);
  drawGutter();
  return el('section', {class: 'panel', 'aria-label': 'Validate a candidate file', 'data-testid': 'validate-panel'},
    el('h2', {}, 'Validate a candidate rule or payer file'),
    el('div', {}, el('label', {for: 'candidate-name'}, 'File name (rules/….yaml or payers/….yaml)'), name),
    el('label', {for: 'candidate-text'}, 'File text (YAML)'),
    el('div', {class: 'editor'}, gutter, text),
    el('p', {class: 'hint', id: 'candidate-hint'},
      'Linted together with the rules in force (a file of the same name is replaced); nothing is loaded.'),
    el('div', {class: 'actions'}, validateButton, impactButton),
    output);
}

// ---------------------------------------------------------------------------------------------- one rule

async function ruleDetail(root, ctx, id) {
  const payer = ctx.params.get('payer');
  const rule = await ctx.api(`/v1/rules/${encodeURIComponent(id)}${payer ? `?payer=${encodeURIComponent(payer)}` : ''}`);
  const scrubs = new URLSearchParams({rule: rule.id});
  if (rule.payer) scrubs.set('payer', rule.payer);
  root.append(
    el('p', {}, el('a', {href: '#/rules'}, '← All rules')),
    el('h1', {'data-testid': 'rule-title'}, el('code', {}, rule.id), ` ${rule.title}`),
    el('dl', {class: 'facts', 'data-testid': 'rule-facts'},
      fact('Category', rule.category, 'rule-category-value'),
      fact('Severity', rule.severity, 'rule-severity-value'),
      fact('Status', rule.status, 'rule-status'),
      fact('CARC / RARC', denial(rule), 'rule-denial'),
      fact('Effective', effective(rule), 'rule-effective'),
      fact('Source file', rule.source, 'rule-source'),
      fact('Payer', rule.payer ?? 'base rule (every payer unless its profile changes it)', 'rule-payer-value'),
      fact('Fired in the last 30 days', String(rule.fired_30d), 'rule-fired-30d'),
      fact('Rule set', rule.revision, 'rule-revision')),
    el('p', {}, el('a', {href: `#/scrubs?${scrubs}`, 'data-testid': 'rule-scrubs'}, 'Stored scrubs this rule reported')),
    el('h2', {}, 'As written'),
    el('pre', {class: 'yaml', 'data-testid': 'rule-yaml', tabindex: '0', 'aria-label': 'The rule as YAML'},
      el('code', {}, rule.yaml)),
    el('h2', {}, `Examples (${rule.examples.length})`),
    rule.examples.length ? el('table', {'data-testid': 'rule-examples'},
      el('thead', {}, el('tr', {}, ['Example', 'Must report', 'Claim (the fields it sets)'].map(h => el('th', {scope: 'col'}, h)))),
      el('tbody', {}, rule.examples.map(e => el('tr', {'data-testid': 'rule-example', dataset: {name: e.name ?? ''}},
        el('th', {scope: 'row'}, e.name ?? ''),
        el('td', {}, (e.expect || []).length ? e.expect.join(', ') : 'nothing (must not fire)'),
        el('td', {}, el('pre', {class: 'example-claim'}, JSON.stringify(e.claim ?? {}, null, 1)))))))
      : el('p', {class: 'muted'}, 'This rule has no examples (it is made by the service, not written in a file).'));
}

export async function render(root, ctx) {
  const id = ctx.path && ctx.path[1];
  if (id) return ruleDetail(root, ctx, id);
  const list = await ctx.api('/v1/rules');
  root.append(el('h1', {}, 'Rules'), catalogue(list), payerProfiles(ctx, list), validatePanel(ctx));
}
