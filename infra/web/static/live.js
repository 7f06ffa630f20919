// Keeps an inbox, a provider's referrals or a dashboard up to date: when the
// server says what this person sees of the page changed, the page's content is
// fetched again and put in place, unless the person is typing in a form of it.
// When the session ends (signed out elsewhere, timed out, token revoked), the
// stream says so and the page goes to the sign-in page.
(function () {
  var main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource) { return; }
  var busy = false;
  function refresh() {
    var active = document.activeElement;
    if (busy || (active && main.contains(active) && /INPUT|SELECT|TEXTAREA/.test(active.tagName))) { return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Tierlink-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (next) { main.innerHTML = next.innerHTML; }
      })
      .finally(function () { busy = false; });
  }
  var events = new EventSource("/ui/events?view=" + encodeURIComponent(main.getAttribute("data-live")));
  events.addEventListener("changed", refresh);
  events.addEventListener("signedout", function () {
    events.close();
    location.assign("/ui/signin");
  });
})();
