"use strict";
// codeclm view: the items table (filters, search, sort by gap, paging), one item's story, coverage, two runs side by side.
// Data: embedded in the page (--html) or fetched from the local server that served it (/api/data, /api/story).
(function () {
  const PAGE = 100;
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "onclick") node.addEventListener("click", v);
      else if (k === "style") node.style.cssText = v;
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  };
  const embedded = $("data");
  const embeddedStories = $("stories");
  let D, T, S, stories = null;
  const state = { filtered: null, page: 0, sort: null, desc: true };

  async function load() {
    const t0 = performance.now();
    if (embedded) {
      D = JSON.parse(embedded.textContent);
      stories = embeddedStories ? JSON.parse(embeddedStories.textContent) : null;
    } else {
      D = await (await fetch("api/data")).json();
    }
    T = D.table; S = T.strings;
    T.lower = T.instruction.map((s, i) => (s + " " + T.id[i] + " " + S[T.use_case[i]] + " " + T.skills[i].map((k) => S[k]).join(" ")).toLowerCase());
    window.codeclmView = { rows: T.id.length, loadMs: 0 };
    setup();
    apply();
    window.codeclmView.loadMs = performance.now() - t0;
    document.body.dataset.ready = "1";
  }

  function counted(column, many) {
    const counts = new Map();
    for (const v of T[column]) for (const x of many ? v : [v]) counts.set(x, (counts.get(x) || 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1]);
  }

  function fill(id, label, options) {
    const select = $(id);
    select.replaceChildren(el("option", { value: "" }, `${label}: all`));
    for (const [value, text, n] of options) select.append(el("option", { value: String(value) }, `${text} (${n})`));
    select.addEventListener("change", () => { state.page = 0; apply(); });
  }

  function setup() {
    $("runs-line").textContent = D.runs.map((r, i) => `[${i + 1}] ${r.name}: ${r.kept} kept, ${r.dropped} dropped`).join("   ");
    const multi = D.runs.length > 1;
    document.querySelectorAll(".col-run").forEach((n) => n.classList.toggle("hidden", !multi));
    $("f-run").classList.toggle("hidden", !multi);
    fill("f-run", "run", D.runs.map((r, i) => [i, `${i + 1} ${r.name}`, r.kept + r.dropped]));
    fill("f-status", "status", counted("kind").map(([k, n]) => [k, T.kinds[k], n]));
    for (const [col, label] of [["stage", "stage"], ["reason", "reason"], ["use_case", "use case"], ["model", "source model"]])
      fill(`f-${col}`, label, counted(col).filter(([k]) => S[k] !== "").map(([k, n]) => [k, S[k], n]));
    fill("f-skill", "skill", counted("skills", true).map(([k, n]) => [k, S[k], n]));
    fill("f-iteration", "iteration", counted("iteration").filter(([k]) => k !== null).sort((a, b) => a[0] - b[0]).map(([k, n]) => [k, k, n]));
    $("search").addEventListener("input", () => { state.page = 0; apply(); });
    $("clear").addEventListener("click", () => {
      document.querySelectorAll(".filters select").forEach((s) => { s.value = ""; });
      $("search").value = ""; state.page = 0; apply();
    });
    $("prev").addEventListener("click", () => { if (state.page > 0) { state.page--; render(); } });
    $("next").addEventListener("click", () => { if ((state.page + 1) * PAGE < state.filtered.length) { state.page++; render(); } });
    for (const col of ["gap", "iteration"]) $(`sort-${col}`).addEventListener("click", () => {
      state.desc = state.sort === col ? !state.desc : true; state.sort = col; state.page = 0; apply();
    });
    document.querySelectorAll("nav .tab").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
    $("tab-compare").classList.toggle("hidden", !multi);
  }

  function show(tab) {
    document.querySelectorAll("nav .tab").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
    document.querySelectorAll(".view").forEach((v) => v.classList.toggle("hidden", v.id !== `view-${tab}`));
    if (tab === "coverage" && !$("view-coverage").dataset.done) renderCoverage(0);
    if (tab === "compare" && !$("view-compare").dataset.done) renderCompare(0, 1);
  }

  function apply() {
    const want = {};
    for (const col of ["run", "stage", "reason", "use_case", "model", "iteration"]) {
      const v = $(`f-${col}`).value; if (v !== "") want[col] = Number(v);
    }
    const status = $("f-status").value, skill = $("f-skill").value;
    const q = $("search").value.trim().toLowerCase();
    const n = T.id.length, out = [];
    outer: for (let i = 0; i < n; i++) {
      for (const col in want) if (T[col][i] !== want[col]) continue outer;
      if (status !== "" && T.kind[i] !== Number(status)) continue;
      if (skill !== "" && !T.skills[i].includes(Number(skill))) continue;
      if (q && !T.lower[i].includes(q)) continue;
      out.push(i);
    }
    if (state.sort) {
      const col = T[state.sort], sign = state.desc ? -1 : 1;
      out.sort((a, b) => {
        const x = col[a], y = col[b];
        if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;  // no gap: last either way
        return sign * (x - y);
      });
    }
    state.filtered = out;
    $("sort-gap").textContent = "gap" + (state.sort === "gap" ? (state.desc ? " ▼" : " ▲") : "");
    $("sort-iteration").textContent = "iter" + (state.sort === "iteration" ? (state.desc ? " ▼" : " ▲") : "");
    render();
  }

  function badge(kind) { return el("span", { class: `badge ${kind}` }, kind); }
  function fmtGap(g) { return g === null || g === undefined ? "" : (g >= 0 ? "+" : "") + Number(g).toFixed(3); }

  function render() {
    const rows = state.filtered, start = state.page * PAGE, end = Math.min(rows.length, start + PAGE);
    $("count").textContent = rows.length ? `items ${start + 1}-${end} of ${rows.length}` : "no item matches";
    const multi = D.runs.length > 1, body = [];
    for (let k = start; k < end; k++) {
      const i = rows[k];
      const tr = el("tr", { "data-row": i, onclick: () => openStory(T.run[i], T.item[i]) },
        multi ? el("td", {}, T.run[i] + 1) : null,
        el("td", {}, badge(T.kinds[T.kind[i]])), el("td", {}, S[T.stage[i]]), el("td", {}, S[T.reason[i]]),
        el("td", {}, S[T.use_case[i]]), el("td", {}, T.skills[i].map((s) => S[s]).join(", ")),
        el("td", { class: "num" }, T.iteration[i] ?? ""), el("td", {}, S[T.model[i]]),
        el("td", { class: "num" }, fmtGap(T.gap[i])), el("td", { class: "instr", title: T.instruction[i] }, T.instruction[i]));
      body.push(tr);
    }
    document.querySelector("#items tbody").replaceChildren(...body);
  }

  async function getStory(run, item) {
    if (stories) return stories[run][item];
    const reply = await fetch(`api/story?run=${run}&item=${item}`);
    return reply.json();
  }

  async function openStory(run, item) {
    const s = await getStory(run, item);
    $("view-story").replaceChildren(storyView(s, true));
    show("story");
  }

  function kv(pairs) {
    return el("table", { class: "kv" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v))));
  }

  function lossColor(loss) {
    if (loss === null) return "transparent";
    const a = Math.min(1, loss / 6);  // 6 nats and more: full colour
    return `rgba(207, 34, 46, ${a.toFixed(3)})`;
  }

  function shaded(tokens) {
    const box = el("div", { class: "answer", id: "shaded" });
    for (const t of tokens)
      box.append(el("span", { class: "tok" + (t.counted ? "" : " uncounted"), style: `background:${lossColor(t.loss)}`,
        title: t.loss === null ? "no loss" : `loss ${t.loss.toFixed(1)} nats${t.counted ? "" : " (not counted: word in the instruction, or punctuation)"}` }, t.text));
    const legend = el("div", { class: "legend muted" }, "target's loss per token, nats: ",
      [0, 1, 2, 3, 4, 5, 6].map((x) => el("span", { style: `background:${lossColor(x)}` }, x === 6 ? "6+" : x)),
      " dashed: not counted in the gap (words the instruction already has, punctuation)");
    return [legend, box];
  }

  function storyView(s, withOthers) {
    const r = s.row, run = D.runs[s.run], kept = s.status === "kept";
    const meta = r.metadata || {};
    const wrap = el("div", { class: "story", "data-id": r.id });
    wrap.append(el("h2", {}, badge(s.status), " ", r.id, el("span", { class: "muted" }, `  run ${s.run + 1} ${run.name}`)));
    wrap.append(el("div", { class: "card" }, el("h3", {}, kept ? "Kept" : `Dropped at ${r.stage}`),
      kv([["decision", kept ? r.decision : r.reason], ["gap", fmtGap(kept ? r.gap : ((r.history || []).filter((a) => a.gap !== null).pop() || {}).gap)], ["theta", r.theta ?? ""],
        ["kept answer", kept ? `${r.response_source} (${r.response_model})` : ""], ["instruction", el("pre", { id: "story-instruction" }, r.instruction || "")]])));
    const seed = s.seed || {};
    wrap.append(el("div", { class: "card" }, el("h3", {}, "Seed and metadata"),
      kv([["use case", meta.use_case || "(none)"], ["skills", (meta.skills || []).join(", ")], ["origin", r.metadata_origin || "(not recorded)"],
        ["seed", seed.id ? (seed.text ? el("pre", {}, seed.text) : `${seed.id}: ${seed.note || "text not found"}`) :
          (r.metadata_origin === "enlarged" ? "none: enlarged metadata (a use case and skills mixed from encoded ones)" : "")]])));
    const hist = r.history || [];
    wrap.append(el("div", { class: "card" }, el("h3", {}, `Self-Rubrics iterations (${hist.length})`),
      hist.length ? el("table", { id: "history" }, el("tr", {}, ["iter", "rubric", "action", "instruction", "gap", "decision"].map((h) => el("th", {}, h))),
        hist.map((a) => el("tr", {}, el("td", {}, a.iteration), el("td", {}, a.rubric || (a.iteration > 1 ? "(not recorded)" : "")),
          el("td", {}, a.action || (a.iteration === 1 ? "(decoded instruction)" : "")), el("td", {}, el("pre", {}, a.instruction)),
          el("td", { class: "num" }, fmtGap(a.gap)), el("td", {}, a.decision)))) : el("p", { class: "muted" }, "not judged")));
    if (kept) {
      const answers = r.answers || {};
      const side = (role, text) => el("div", {}, el("h3", {}, `${role} (${(r.models || {})[role] || ""})`),
        answers[role] ? kv([["guard", answers[role].guard], ["finish", answers[role].finish_reason], ["tokens", answers[role].completion_tokens !== null ? `${answers[role].completion_tokens} of ${answers[role].max_tokens ?? "?"}` : ""]]) : null,
        text === null || text === undefined ? el("p", { class: "muted" }, role === "target" ? "not asked: this judging scheme does not compare answers" : "none") : el("pre", { class: "answer" }, text));
      wrap.append(el("div", { class: "card" }, el("h3", {}, "Answers"), el("div", { class: "side" }, side("strong", r.strong_response), side("target", r.target_response))));
      const j = r.judge;
      if (j) wrap.append(el("div", { class: "card" }, el("h3", {}, `Judge: ${j.scheme}`), el("p", { class: "muted" }, j.scale || ""),
        kv([["strong", Number(j.strong).toFixed(3)], ["target", Number(j.target).toFixed(3)], ["gap", fmtGap(j.gap)], ["orders agree", String(j.orders_agree)]]),
        (j.orders || []).map((o) => el("div", {}, el("b", {}, o.order), ": ", o.raw || "", o.explanation ? ` ${o.explanation}` : ""))));
      if (s.tokens) wrap.append(el("div", { class: "card", id: "loss-card" }, el("h3", {}, "Why it was kept: the target's loss on each token of the strong answer"), shaded(s.tokens)));
      else if (j && j.scheme === "target-loss") wrap.append(el("div", { class: "card muted" }, "No per-token losses in this record (written before they were stored)."));
    }
    wrap.append(el("div", { class: "card" }, el("h3", {}, "Provenance"),
      kv([["program", r.program], ["models", r.models ? JSON.stringify(r.models) : ""], ["templates", r.templates ? JSON.stringify(r.templates) : ""], ["tuned", r.tuned || ""]])));
    if (withOthers && s.others && s.others.length) {
      wrap.append(el("div", { class: "card" }, el("h3", {}, "The same item in other runs"),
        s.others.map((o) => el("button", { onclick: () => sideBySide(s.run, s.item, o.run, o.item) }, `compare with run ${o.run + 1} ${D.runs[o.run].name}`))));
    }
    return wrap;
  }

  async function sideBySide(runA, itemA, runB, itemB) {
    const [a, b] = await Promise.all([getStory(runA, itemA), getStory(runB, itemB)]);
    $("view-story").replaceChildren(el("div", { class: "side", id: "side-by-side" }, storyView(a, false), storyView(b, false)));
    show("story");
  }

  function renderCoverage(run) {
    const view = $("view-coverage"), cov = D.coverage[run];
    view.dataset.done = "1";
    const pick = el("select", { id: "cov-run" }, D.runs.map((r, i) => el("option", { value: i }, `${i + 1} ${r.name}`)));
    pick.value = run; pick.addEventListener("change", () => renderCoverage(Number(pick.value)));
    const total = new Map(), useTotal = new Map(), cell = new Map();
    for (const [u, s, o, sd, b] of cov.pairs) {
      total.set(s, (total.get(s) || 0) + o + sd + b); useTotal.set(u, (useTotal.get(u) || 0) + o + sd + b);
      cell.set(u + "\u0000" + s, [o, sd, b]);
    }
    const top = (m, n) => [...m.entries()].sort((x, y) => y[1] - x[1]).slice(0, n).map(([k]) => k);
    const uses = top(useTotal, 30), skills = top(total, 30);
    const maxOut = Math.max(1, ...cov.pairs.map((p) => p[2]));
    const head = el("tr", {}, el("th", {}, "use case \\ skill"), skills.map((s) => el("th", { class: "rot" }, s)));
    const rows = uses.map((u) => el("tr", {}, el("th", {}, u), skills.map((s) => {
      const c = cell.get(u + "\u0000" + s);
      if (!c) return el("td", { class: "cell" });
      const [o, sd, b] = c, missing = o === 0 && (sd > 0 || b > 0);
      return el("td", { class: "cell" + (missing ? " gap" : ""), style: `background:rgba(45,164,78,${(o / maxOut).toFixed(3)})`,
        title: `${u} x ${s}: output ${o}, seeds ${sd}` + (cov.benchmark ? `, benchmark ${b}` : "") }, o || (missing ? "0" : ""));
    })));
    const uncovered = cov.pairs.filter((p) => p[2] === 0 && (p[3] > 0 || p[4] > 0));
    view.replaceChildren(
      el("div", {}, "Run ", pick, el("span", { class: "muted" }, `  cells: kept records per use case x skill (green); red outline: in the seeds' metadata` +
        (cov.benchmark ? ` or the benchmark (${D.benchmark})` : "") + " but not in the output. Top 30 use cases and skills.")),
      el("table", { class: "cov", id: "coverage-grid" }, head, rows),
      el("h3", {}, `Not covered by the output (${uncovered.length} pairs)`),
      el("table", { id: "uncovered" }, el("tr", {}, el("th", {}, "use case"), el("th", {}, "skill"), el("th", {}, "seeds"), cov.benchmark ? el("th", {}, "benchmark") : null),
        uncovered.slice(0, 500).map((p) => el("tr", {}, el("td", {}, p[0]), el("td", {}, p[1]), el("td", { class: "num" }, p[3]), cov.benchmark ? el("td", { class: "num" }, p[4]) : null))));
  }

  function runStats(r) {
    const n = T.id.length, iters = new Map(), stages = new Map(), sources = new Map(), gaps = [], uses = new Set(), skills = new Set();
    let kept = 0, filtered = 0, failed = 0, length = 0;
    for (let i = 0; i < n; i++) {
      if (T.run[i] !== r) continue;
      const k = T.kind[i];
      if (k === 0) {
        kept++; length += T.instruction[i].length;
        iters.set(T.iteration[i], (iters.get(T.iteration[i]) || 0) + 1);
        sources.set(S[T.source[i]], (sources.get(S[T.source[i]]) || 0) + 1);
        uses.add(T.use_case[i]); T.skills[i].forEach((s) => skills.add(s));
        if (T.gap[i] !== null) gaps.push(T.gap[i]);
      } else {
        if (k === 1) filtered++; else failed++;
        stages.set(S[T.stage[i]], (stages.get(S[T.stage[i]]) || 0) + 1);
      }
    }
    gaps.sort((a, b) => a - b);
    const fmt = (m) => [...m.entries()].sort().map(([k, v]) => `${k}: ${v}`).join(", ");
    return {
      "kept": kept, "dropped (filtered)": filtered, "dropped (failed)": failed, "dropped by stage": fmt(stages),
      "kept by source": fmt(sources), "kept by iteration": fmt(iters),
      "gap of kept, median": gaps.length ? fmtGap(gaps[Math.floor(gaps.length / 2)]) : "",
      "distinct use cases (kept)": uses.size, "distinct skills (kept)": skills.size,
      "mean instruction length (chars)": kept ? Math.round(length / kept) : "",
    };
  }

  function renderCompare(a, b) {
    const view = $("view-compare");
    view.dataset.done = "1";
    const picker = (id, value) => {
      const s = el("select", { id }, D.runs.map((r, i) => el("option", { value: i }, `${i + 1} ${r.name}`)));
      s.value = value; s.addEventListener("change", () => renderCompare(Number($("cmp-a").value), Number($("cmp-b").value)));
      return s;
    };
    const A = runStats(a), B = runStats(b);
    const summary = el("table", { id: "compare-summary" }, el("tr", {}, el("th", {}, ""), el("th", {}, D.runs[a].name), el("th", {}, D.runs[b].name)),
      Object.keys(A).map((k) => el("tr", {}, el("td", {}, k), el("td", {}, A[k]), el("td", {}, B[k]))));
    const inB = new Map();
    for (let i = 0; i < T.id.length; i++) if (T.run[i] === b) inB.set(T.id[i], i);
    const shared = [];
    for (let i = 0; i < T.id.length; i++) if (T.run[i] === a && inB.has(T.id[i])) shared.push([i, inB.get(T.id[i])]);
    const differ = shared.filter(([i, j]) => T.kind[i] !== T.kind[j] || T.iteration[i] !== T.iteration[j]);
    const list = el("table", { id: "compare-items" }, el("tr", {}, ["id", "instruction", D.runs[a].name, D.runs[b].name].map((h) => el("th", {}, h))),
      differ.concat(shared.filter((p) => !differ.includes(p))).slice(0, 300).map(([i, j]) => el("tr", { onclick: () => sideBySide(a, T.item[i], b, T.item[j]), style: "cursor:pointer" },
        el("td", {}, T.id[i]), el("td", { class: "instr" }, T.instruction[i].slice(0, 120)),
        el("td", {}, badge(T.kinds[T.kind[i]]), ` it ${T.iteration[i] ?? ""} ${fmtGap(T.gap[i])}`),
        el("td", {}, badge(T.kinds[T.kind[j]]), ` it ${T.iteration[j] ?? ""} ${fmtGap(T.gap[j])}`))));
    view.replaceChildren(el("div", {}, "Runs ", picker("cmp-a", a), " vs ", picker("cmp-b", b)), summary,
      el("h3", {}, `Items in both runs: ${shared.length}; with another outcome: ${differ.length} (click one for both stories side by side)`), list);
  }

  load().catch((e) => { document.body.dataset.error = String(e); $("count").textContent = `could not load the data: ${e}`; });
})();
