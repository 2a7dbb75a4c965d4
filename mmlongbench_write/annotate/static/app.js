// The annotation studio page: sign in with a token, pick a course, revise its pages one by one.
// Every text from the server is written with textContent / value, never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "mmlw-annotate-token";
  const AUTOSAVE_MS = 800;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY), user: null, course: null, page: null, version: null,
    dirty: false, saving: null, timer: null, diffTimer: null, imageUrl: null, imageTicket: 0,
  };

  class HttpError extends Error {
    constructor(status, body) {
      super((body && body.error) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function call(method, url, body) {
    const options = { method, headers: { Authorization: `Bearer ${state.token}` } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    if (response.status === 401) {
      signOut("That token was not accepted; sign in again.");
      throw new HttpError(401, null);
    }
    const isJson = (response.headers.get("content-type") || "").includes("json");
    const data = isJson ? await response.json() : null;
    if (!response.ok) throw new HttpError(response.status, data);
    return data;
  }

  const courseUrl = (major, course) => `/api/courses/${enc(major)}/${enc(course)}`;
  const pageUrl = (major, course, n) => `${courseUrl(major, course)}/pages/${n}`;
  const pageHash = (major, course, n) => `#/page/${enc(major)}/${enc(course)}/${n}`;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function show(section) {
    for (const id of ["login", "courses", "page"]) $(id).hidden = id !== section;
  }

  function setStatus(kind, text) {
    const status = $("status");
    status.className = kind;
    status.textContent = text;
  }

  function fail(error) {
    if (error.status === 401) return;
    const where = $("page").hidden ? $("totals") : $("status");
    where.textContent = `Error: ${error.message}`;
    where.className = "error";
  }

  // ---- sign in / out ----
  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    Object.assign(state, { token: null, user: null, course: null, page: null, dirty: false });
    $("whoami").textContent = "";
    $("signout").hidden = true;
    $("login-error").textContent = message || "";
    show("login");
    $("token").focus();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    $("token").value = "";
    sessionStorage.setItem(TOKEN_KEY, state.token);
    route().catch(fail);
  });
  $("signout").addEventListener("click", () => signOut(""));

  // ---- course list ----
  function annotatorText(annotators) {
    const names = Object.keys(annotators).sort();
    return names.length ? names.map((n) => `${n} ${annotators[n]}`).join(" · ") : "—";
  }

  async function openCourses() {
    const list = await call("GET", "/api/courses");
    const body = $("course-table").querySelector("tbody");
    body.replaceChildren();
    const totals = {};
    let pages = 0, revised = 0;
    for (const c of list) {
      pages += c.pages;
      revised += c.revised;
      for (const [name, count] of Object.entries(c.annotators)) totals[name] = (totals[name] || 0) + count;
      const row = el("tr");
      row.append(el("td", c.major));
      const open = el("button", c.course, "link");
      open.type = "button";
      open.addEventListener("click", () => openCourse(c.major, c.course).catch(fail));
      const name = el("td");
      name.append(open);
      row.append(name);
      const progress = el("td");
      const bar = el("progress");
      bar.max = Math.max(c.pages, 1);
      bar.value = c.revised;
      progress.append(bar, el("span", ` ${c.revised} / ${c.pages}`));
      row.append(progress, el("td", annotatorText(c.annotators)));
      body.append(row);
    }
    $("totals").className = "";
    $("totals").textContent = `${revised} of ${pages} pages revised in ${list.length} courses · ${annotatorText(totals)}`;
    document.title = "Courses · mmlw annotate";
    show("courses");
  }

  async function openCourse(major, course) {
    const detail = await call("GET", courseUrl(major, course));
    const first = detail.pages.find((p) => !p.revised) || detail.pages[0];
    if (first) await go(pageHash(major, course, first.page));
  }

  // ---- page view ----
  function renderPills() {
    const pills = $("pills");
    pills.replaceChildren();
    for (const p of state.course.pages) {
      const pill = el("button", String(p.page), "pill");
      pill.type = "button";
      if (p.revised) pill.classList.add("revised");
      if (state.page && p.page === state.page.number) pill.classList.add("current");
      pill.title = p.revised ? `revised${p.author ? " by " + p.author : ""}` : "not revised";
      pill.addEventListener("click", () => go(pageHash(state.course.major, state.course.course, p.page)));
      pills.append(pill);
    }
  }

  async function loadImage(url) {
    const ticket = ++state.imageTicket;
    if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
    state.imageUrl = null;
    $("slide").removeAttribute("src");
    $("slide").hidden = !url;
    $("slide-caption").textContent = url ? "" : "no slide image for this page";
    if (!url) return;
    const response = await fetch(url, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!response.ok) throw new HttpError(response.status, null);
    const blob = await response.blob();
    if (ticket !== state.imageTicket) return;
    state.imageUrl = URL.createObjectURL(blob);
    $("slide").src = state.imageUrl;
  }

  async function openPage(major, course, number) {
    const data = await call("GET", pageUrl(major, course, number));
    if (!state.course || state.course.major !== major || state.course.course !== course) {
      state.course = await call("GET", courseUrl(major, course));
    }
    state.page = { major, course, number, original: data.original, revision: data.revision,
                   prev: data.previous, next: data.next };
    state.version = data.version;
    state.dirty = false;
    const index = state.course.pages.findIndex((p) => p.page === number);
    $("crumb").textContent = `${major} / ${course} — page ${number} (${index + 1} of ${state.course.pages.length})`;
    $("instruction").textContent = state.course.instruction || "";
    $("original").textContent = data.original;
    $("revision").value = data.revision ?? data.original;
    $("prev").disabled = data.previous === null;
    $("next").disabled = data.next === null;
    $("conflict").hidden = true;
    $("history").open = false;
    $("history-list").replaceChildren();
    setStatus("idle", data.revision !== null
      ? `revised${data.author ? " by " + data.author : ""}` : "not revised yet: starts from the original");
    renderPills();
    updateDiff();
    document.title = `${course} · page ${number} · mmlw annotate`;
    show("page");
    $("revision").focus();
    await loadImage(data.image_url);
  }

  function updateDiff() {
    if (!state.page) return;  // a debounced update can fire after leaving the page view
    const parts = MMLWDiff.diff(state.page.original, $("revision").value);
    const view = $("diff");
    view.replaceChildren();
    let added = 0, removed = 0;
    for (const part of parts) {
      const tag = part.op === "+" ? "ins" : part.op === "-" ? "del" : "span";
      view.append(el(tag, part.text));
      if (part.op === "+") added += MMLWDiff.count(part.text);
      if (part.op === "-") removed += MMLWDiff.count(part.text);
    }
    $("diff-stats").textContent = added || removed ? `+${added} / −${removed} words` : "(none)";
  }

  function markRevised(page, revised) {
    const entry = state.course && state.course.pages.find((p) => p.page === page.number);
    if (entry && state.course.course === page.course && state.course.major === page.major) {
      entry.revised = revised;
      entry.author = revised ? state.user : null;
      renderPills();
    }
  }

  // ---- saving ----
  function scheduleSave() {
    state.dirty = true;
    setStatus("unsaved", "unsaved changes");
    clearTimeout(state.timer);
    state.timer = setTimeout(() => save().catch(fail), AUTOSAVE_MS);
  }

  async function save() {
    clearTimeout(state.timer);
    while (state.saving) await state.saving;
    if (!state.dirty || !state.page) return true;
    const page = state.page;
    const text = $("revision").value;
    state.dirty = false;
    setStatus("saving", "saving…");
    state.saving = (async () => {
      try {
        const result = await call("PUT", pageUrl(page.major, page.course, page.number),
                                  { text, base: state.version });
        if (state.page !== page) return true;
        state.version = result.version;
        page.revision = text.trim() ? text : null;
        markRevised(page, page.revision !== null);
        if (!state.dirty) setStatus("saved", `saved ${new Date().toLocaleTimeString()}`);
        return true;
      } catch (error) {
        if (error.status === 409 && state.page === page) {
          conflict(page, text, error.body);
        } else if (state.page === page) {
          state.dirty = true;
          setStatus("error", `not saved: ${error.message}`);
        }
        return false;
      }
    })();
    try {
      return await state.saving;
    } finally {
      state.saving = null;
    }
  }

  function conflict(page, mine, body) {
    state.version = body.version;
    page.revision = body.revision;
    $("revision").value = body.revision ?? page.original;
    $("mine").value = mine;
    $("conflict-message").textContent = body.error;
    $("conflict").hidden = false;
    state.dirty = false;
    markRevised(page, body.revision !== null);
    setStatus("conflict", "not saved: a newer version is shown");
    updateDiff();
  }

  $("use-mine").addEventListener("click", () => {
    $("revision").value = $("mine").value;
    $("conflict").hidden = true;
    updateDiff();
    scheduleSave();
  });
  $("dismiss").addEventListener("click", () => { $("conflict").hidden = true; });
  $("revision").addEventListener("input", () => {
    scheduleSave();
    clearTimeout(state.diffTimer);
    state.diffTimer = setTimeout(updateDiff, 150);
  });
  $("accept").addEventListener("click", () => {
    $("revision").value = state.page.original;
    updateDiff();
    state.dirty = true;
    save().catch(fail);
  });
  $("revert").addEventListener("click", () => {
    $("revision").value = state.page.original;
    updateDiff();
    scheduleSave();
  });

  // ---- history ----
  $("history").addEventListener("toggle", async () => {
    if (!$("history").open || !state.page) return;
    const page = state.page;
    const records = await call("GET", `${pageUrl(page.major, page.course, page.number)}/history`).catch(fail);
    const list = $("history-list");
    list.replaceChildren();
    if (!records || !records.length) list.append(el("li", "no saves yet"));
    for (const record of (records || []).slice().reverse()) {
      const item = el("li", `${record.time} — ${record.user} replaced `);
      const before = el("details");
      before.append(el("summary", record.previous === null ? "no revision (the original)" : "this text"));
      before.append(el("pre", record.previous ?? page.original));
      const restore = el("button", "Put this text in the editor");
      restore.type = "button";
      restore.addEventListener("click", () => {
        $("revision").value = record.previous ?? page.original;
        updateDiff();
        scheduleSave();
      });
      before.append(restore);
      item.append(before);
      list.append(item);
    }
  });

  // ---- navigation ----
  function currentHash() {
    return state.page ? pageHash(state.page.major, state.page.course, state.page.number) : "#/";
  }

  async function go(hash) {
    if (!(await save())) return;
    if (location.hash === hash) await route();
    else location.hash = hash;
  }

  function goPage(number) {
    if (number !== null && number !== undefined && state.page) {
      go(pageHash(state.page.major, state.page.course, number)).catch(fail);
    }
  }

  $("prev").addEventListener("click", () => goPage(state.page.prev));
  $("next").addEventListener("click", () => goPage(state.page.next));
  $("back").addEventListener("click", (event) => { event.preventDefault(); go("#/").catch(fail); });
  document.addEventListener("keydown", (event) => {
    if ($("page").hidden || !state.page) return;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save().then((ok) => { if (ok && !state.dirty) setStatus("saved", "saved"); }).catch(fail);
    } else if (event.altKey && event.key === "ArrowRight") {
      event.preventDefault();
      goPage(state.page.next);
    } else if (event.altKey && event.key === "ArrowLeft") {
      event.preventDefault();
      goPage(state.page.prev);
    } else if (event.key === "Escape") {
      event.preventDefault();
      go("#/").catch(fail);
    }
  });

  window.addEventListener("hashchange", async () => {
    const leaving = state.page && location.hash !== currentHash();
    if (leaving && !(await save())) {
      history.pushState(null, "", currentHash());  // stay: the conflict box shows what was not saved
      return;
    }
    route().catch(fail);
  });
  window.addEventListener("beforeunload", (event) => {
    if (state.dirty || state.saving) {
      save();
      event.preventDefault();
      event.returnValue = "";
    }
  });

  async function route() {
    if (!state.token) {
      show("login");
      return;
    }
    if (!state.user) {
      state.user = (await call("GET", "/api/me")).user;
      $("whoami").textContent = `signed in as ${state.user}`;
      $("signout").hidden = false;
    }
    const match = location.hash.match(/^#\/page\/([^/]+)\/([^/]+)\/(\d+)$/);
    if (match) await openPage(decodeURIComponent(match[1]), decodeURIComponent(match[2]), Number(match[3]));
    else {
      clearTimeout(state.diffTimer);
      state.page = null;
      await openCourses();
    }
  }

  route().catch(fail);
})();
