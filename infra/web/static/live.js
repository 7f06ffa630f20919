// Keeps an inbox or a dashboard up to date: when the server says the read models
// changed, the page's content is fetched again and put in place, unless the person
// is typing in a form of it.
(function () {
  var main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource) { return; }
  var busy = false;
  function refresh() {
    var active = document.activeElement;
    if (busy || (active && main.contains(active) && /INPUT|SELECT|TEXTAREA/.test(active.tagName))) { return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (next) { main.innerHTML = next.innerHTML; }
      })
      .finally(function () { busy = false; });
  }
  new EventSource("/ui/events").addEventListener("changed", refresh);
})();
