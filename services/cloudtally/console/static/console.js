/* cloudtally console: CSRF header for htmx, charts, upload with progress. No build step. */
(function () {
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  document.body.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf;
  });
  document.body.addEventListener("htmx:responseError", function (e) {
    alert(e.detail.xhr.responseText);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { var p = document.getElementById("search-popup"); if (p) p.innerHTML = ""; }
  });
  function json(id) { var el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; }
  function chart(id) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) return null;
    var c = echarts.init(el, null, { renderer: "svg" });
    window.addEventListener("resize", function () { c.resize(); });
    return c;
  }
  var hoursAxis = []; for (var h = 0; h < 24; h++) hoursAxis.push(String(h).padStart(2, "0"));

  function heat(id, title, days, cells, index) {
    var c = chart(id); if (!c) return;
    var top = 10; cells.forEach(function (x) { if (x[index] !== null && x[index] > top) top = x[index]; });
    top = Math.min(100, Math.ceil(top / 10) * 10);
    var data = cells.map(function (x) {
      var v = x[index] === null ? "-" : x[index];
      var item = { value: [x[0], x[1], v] };
      if (x[4]) item.itemStyle = { borderColor: "#1b1f24", borderWidth: 1.5 };
      return item;
    });
    c.setOption({
      animation: false, title: { text: title, left: 0, textStyle: { fontSize: 13 } },
      tooltip: { formatter: function (p) { return days[p.value[1]] + " " + hoursAxis[p.value[0]] + ":00 — " + p.value[2] + " %"; } },
      grid: { left: 90, right: 90, top: 30, bottom: 30 },
      xAxis: { type: "category", data: hoursAxis, splitArea: { show: true } },
      yAxis: { type: "category", data: days, inverse: true },
      visualMap: { min: 0, max: top, calculable: true, orient: "vertical", right: 0, top: "middle", itemHeight: 140,
                   inRange: { color: ["#f7fbff", "#6baed6", "#08306b"] } },
      series: [{ type: "heatmap", data: data }]
    });
  }
  function lines(id, title, labels, daily, m) {
    var c = chart(id); if (!c) return;
    var x = daily.map(function (d) { return d.day; });
    var s = ["day", "night", "all"].map(function (k) {
      return { name: labels[k], type: "line", connectNulls: false,
               data: daily.map(function (d) { return d[m + "_" + k]; }) };
    });
    c.setOption({
      animation: false, title: { text: title, textStyle: { fontSize: 13 } }, tooltip: { trigger: "axis" },
      legend: { top: 0, right: 0 }, grid: { left: 50, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "category", data: x }, yAxis: { type: "value", name: "%" }, series: s
    });
  }
  window.cloudtally = {
    utilization: function () {
      var d = json("util-data"), l = json("util-labels"); if (!d) return;
      heat("heat-cpu", l.cpu + " %", d.days, d.cells, 2);
      heat("heat-mem", l.mem + " %", d.days, d.cells, 3);
      lines("daily-cpu", l.cpu + " %", l, d.daily, "cpu");
      lines("daily-mem", l.mem + " %", l, d.daily, "mem");
    },
    pools: function () {
      var d = json("pool-data"); var c = chart("pool-history"); if (!d || !c) return;
      c.setOption({
        animation: false, tooltip: { trigger: "axis" }, legend: { top: 0 },
        grid: { left: 50, right: 20, top: 40, bottom: 30 },
        xAxis: { type: "category", data: d.months }, yAxis: { type: "value", name: "%" },
        series: d.pools.map(function (p) {
          return { name: p, type: "line", data: d.months.map(function (m) { var v = d.values[p + "|" + m]; return v === undefined ? null : v; }) };
        })
      });
    },
    upload: function () {
      var form = document.getElementById("upload-form"); if (!form) return;
      var bar = document.getElementById("up-progress"), status = document.getElementById("up-status");
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var fd = new FormData(form); if (!fd.get("format")) fd.delete("format");
        var xhr = new XMLHttpRequest();
        xhr.open("POST", "/api/v1/invoices/imports");
        xhr.setRequestHeader("X-CSRF-Token", csrf);
        bar.hidden = false; bar.value = 0;
        xhr.upload.onprogress = function (ev) { if (ev.lengthComputable) bar.value = Math.round(50 * ev.loaded / ev.total); status.textContent = "upload " + ev.loaded + " / " + ev.total; };
        xhr.onload = function () {
          if (xhr.status !== 202) { status.textContent = xhr.status + " " + xhr.responseText; return; }
          var job = JSON.parse(xhr.responseText);
          (function poll() {
            fetch(job.status_url, { headers: { "X-CSRF-Token": csrf } }).then(function (r) { return r.json(); }).then(function (j) {
              var p = typeof j.progress === "number" ? j.progress : 0;
              bar.value = 50 + Math.round(50 * (p > 1 ? p / 100 : p));
              status.textContent = j.state + " · " + (j.message || "") + (j.rows ? " · " + j.rows + " rows" : "");
              if (j.state === "done" && j.invoice_id) {
                bar.value = 100;
                status.innerHTML = "";
                var a = document.createElement("a"); a.href = "/console/invoices/" + encodeURIComponent(j.invoice_id);
                a.id = "up-result"; a.textContent = j.invoice_id + " — " + j.message; status.appendChild(a);
              } else if (j.state === "failed") {
                status.textContent = "failed: " + j.message + " " + JSON.stringify(j.errors.slice(0, 5));
              } else { setTimeout(poll, 300); }
            });
          })();
        };
        xhr.send(fd);
      });
    },
    faultUpload: function () {
      /* A fault report is imported in the request (no job): show its counts, then reload so
         the lists show the new faults and the rejected rows with their reasons. */
      var form = document.getElementById("fault-form"); if (!form) return;
      var bar = document.getElementById("f-progress"), status = document.getElementById("f-status");
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var xhr = new XMLHttpRequest();
        xhr.open("POST", "/api/v1/availability/faults");
        xhr.setRequestHeader("X-CSRF-Token", csrf);
        bar.hidden = false; bar.value = 0;
        xhr.upload.onprogress = function (ev) { if (ev.lengthComputable) bar.value = Math.round(90 * ev.loaded / ev.total); };
        xhr.onload = function () {
          if (xhr.status !== 200) { status.textContent = xhr.status + " " + xhr.responseText; return; }
          var r = JSON.parse(xhr.responseText); bar.value = 100;
          status.innerHTML = ""; var s = document.createElement("span"); s.id = "f-result";
          s.textContent = r.file_name + ": " + r.imported + " ✓ · " + r.rejected + " ✗"; status.appendChild(s);
          setTimeout(function () { window.location.reload(); }, 600);
        };
        xhr.send(new FormData(form));
      });
    }
  };
})();
