// Shows the hardship score as the assessment form is filled in: the server computes
// it by the policy in force (GET /ui/hardship), so the formula lives in one place.
(function () {
  var form = document.getElementById("household");
  var out = document.getElementById("score");
  if (!form || !out) { return; }
  function update() {
    var q = new URLSearchParams();
    form.querySelectorAll("select[name^='dim.']").forEach(function (s) { q.append(s.name, s.value); });
    form.querySelectorAll("input[name='group']:checked").forEach(function (c) { q.append("group", c.value); });
    fetch("/ui/hardship?" + q.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { if (j) { out.value = j.score; } });
  }
  form.addEventListener("change", update);
})();
