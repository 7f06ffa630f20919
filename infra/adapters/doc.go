// Package adapters translates between the ports that the application, the matcher,
// the HTTP API and the consumer groups define (app.Views, app.NeedViews,
// matching.Appender, httpapi.Authenticator, eventlog.Applier, ...) and the stores
// that serve them (the event log, the read models, the tokens, Redis).
//
// One package, one file per port (views.go, matcher.go, consumers.go, auth.go,
// health.go): each adapter is a few dozen lines of translation with no rules of
// its own, so a package each would be a folder per file; together they are what
// infra/node, the composition root, plugs in. The ports stay where they are used.
// app.Log is the exception: infra/eventlog/applog adapts any eventlog.Log to it,
// the in-memory log of the app's tests too.
package adapters
