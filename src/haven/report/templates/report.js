// haven report: sort, filter, search and page the work lists. Runs offline, fetches nothing.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("haven-data").textContent);
  var nf = new Intl.NumberFormat("en");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // A thumbnail (only with haven report --thumbnails): blurred and grey until clicked.
  function thumb(b64) {
    var b = el("button", "thumb blurred");
    b.type = "button";
    b.setAttribute("aria-pressed", "false");
    b.title = "Show this picture clearly (click again to blur)";
    var img = el("img");
    img.src = "data:image/jpeg;base64," + b64;
    img.alt = "blurred picture: click to show";
    b.appendChild(img);
    b.addEventListener("click", function () {
      var clear = b.classList.toggle("blurred") === false;
      b.setAttribute("aria-pressed", clear ? "true" : "false");
      img.alt = clear ? "picture" : "blurred picture: click to show";
    });
    return b;
  }

  // The path as a chain of crumbs: seizure/dir › archive › file inside it.
  function crumbs(path, splits) {
    var td = el("td", "path");
    if (data.thumbs && data.thumbs[path]) td.appendChild(thumb(data.thumbs[path]));
    var start = 0;
    for (var i = 0; i <= splits.length; i++) {
      var end = i < splits.length ? splits[i] : path.length;
      var part = path.slice(start, end);
      td.appendChild(el("span", i < splits.length ? "crumb container" : "crumb", part));
      if (i < splits.length) td.appendChild(el("span", "sep", " › "));
      start = end + 1;
    }
    return td;
  }

  function setup(section) {
    var list = data.lists[Number(section.dataset.list)];
    if (!list.rows.length) return;
    var cols = list.columns;
    // row layout: [path, splits, seizure, type, size, ...extra, notes, md5]; column i -> cell index
    var cell = cols.map(function (c, i) { return i === 0 ? 0 : i + 1; });
    var rows = list.rows;
    var text = null;  // lower-cased searchable text per row, built on first search
    var state = { q: "", seizure: "", type: "", sort: -1, dir: 1, page: 0, per: 50 };
    var view = rows;

    var q = section.querySelector(".q"), fs = section.querySelector(".f-seizure"),
        ft = section.querySelector(".f-type"), per = section.querySelector(".per");
    var thead = section.querySelector("thead"), tbody = section.querySelector("tbody");
    var pos = section.querySelector(".pos");
    var prev = section.querySelector(".prev"), next = section.querySelector(".next");

    function options(select, index) {
      var seen = {};
      rows.forEach(function (r) { seen[r[index]] = (seen[r[index]] || 0) + 1; });
      Object.keys(seen).sort().forEach(function (v) {
        var o = el("option", null, v + " (" + nf.format(seen[v]) + ")");
        o.value = v;
        select.appendChild(o);
      });
    }
    options(fs, 2);
    options(ft, 3);

    var tr = el("tr");
    var ths = cols.map(function (c, i) {
      var th = el("th");
      th.scope = "col";
      th.setAttribute("aria-sort", "none");
      var b = el("button", "sort", c.label);
      b.type = "button";
      b.title = "Sort by " + c.label.toLowerCase();
      b.addEventListener("click", function () {
        state.dir = state.sort === i ? -state.dir : 1;
        state.sort = i;
        state.page = 0;
        apply();
      });
      th.appendChild(b);
      if (c.kind === "num") th.className = "num";
      tr.appendChild(th);
      return th;
    });
    thead.appendChild(tr);

    function apply() {
      var t0 = performance.now();
      var needle = state.q.toLowerCase();
      if (needle && !text) {
        text = rows.map(function (r) {
          return r.filter(function (v, k) { return k !== 1; }).join("\u0001").toLowerCase();
        });
      }
      var out = [];
      for (var k = 0; k < rows.length; k++) {
        var r = rows[k];
        if (state.seizure && r[2] !== state.seizure) continue;
        if (state.type && r[3] !== state.type) continue;
        if (needle && text[k].indexOf(needle) === -1) continue;
        out.push(r);
      }
      if (state.sort >= 0) {
        var idx = cell[state.sort], dir = state.dir, num = cols[state.sort].kind === "num";
        out.sort(function (a, b) {
          var x = a[idx], y = b[idx];
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          if (num) return (x - y) * dir;
          return (x < y ? -1 : x > y ? 1 : 0) * dir;
        });
      }
      ths.forEach(function (th, i) {
        th.setAttribute("aria-sort", i === state.sort ? (state.dir > 0 ? "ascending" : "descending") : "none");
      });
      view = out;
      draw();
      section.dataset.applyMs = (performance.now() - t0).toFixed(1);  // read by bench/report_scale.py
    }

    function draw() {
      var pages = Math.max(1, Math.ceil(view.length / state.per));
      if (state.page >= pages) state.page = pages - 1;
      var from = state.page * state.per, to = Math.min(view.length, from + state.per);
      var frag = document.createDocumentFragment();
      for (var k = from; k < to; k++) {
        var r = view[k], tr = el("tr");
        cols.forEach(function (c, i) {
          var v = r[cell[i]];
          if (i === 0) {
            var td0 = crumbs(v, r[1]);
            if (r[r.length - 1]) td0.title = "MD5 " + r[r.length - 1];
            tr.appendChild(td0);
            return;
          }
          var td = el("td", c.kind === "num" ? "num" : (c.key === "notes" ? "notes" : null),
                      c.kind === "num" && v !== null ? nf.format(v) : v);
          tr.appendChild(td);
        });
        frag.appendChild(tr);
      }
      tbody.replaceChildren(frag);
      var of = view.length === rows.length ? "" : " (filtered from " + nf.format(rows.length) + ")";
      pos.textContent = view.length
        ? "Rows " + nf.format(from + 1) + "–" + nf.format(to) + " of " + nf.format(view.length) + of +
          " · page " + (state.page + 1) + " of " + pages
        : "No rows match" + of;
      prev.disabled = state.page === 0;
      next.disabled = state.page >= pages - 1;
    }

    var timer = null;
    q.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.q = q.value.trim(); state.page = 0; apply(); }, 120);
    });
    fs.addEventListener("change", function () { state.seizure = fs.value; state.page = 0; apply(); });
    ft.addEventListener("change", function () { state.type = ft.value; state.page = 0; apply(); });
    per.addEventListener("change", function () { state.per = Number(per.value); state.page = 0; draw(); });
    prev.addEventListener("click", function () { state.page--; draw(); });
    next.addEventListener("click", function () { state.page++; draw(); });
    apply();
  }

  Array.prototype.forEach.call(document.querySelectorAll("section.worklist"), setup);
  document.documentElement.dataset.readyMs = performance.now().toFixed(0);
  document.documentElement.dataset.ready = "1";
})();
