// The global filters (site, as-of date, period) and the URL's query string mirror each other, in the
// browser: a filter change reaches the page body in one server round trip instead of two (this sync
// used to be a server callback the body waited for). The rules are dashboards/filters.py's
// (Filters.from_query_string, from_store, merged_query_string); the app passes their constants in the
// "filter-rules" store so they are written once.
(function () {
    // Python's urllib.parse.quote_plus: letters, digits and _.-~ stay, a space is "+", the rest %XX.
    function quotePlus(text) {
        return encodeURIComponent(String(text))
            .replace(/[!'()*]/g, function (c) {
                return "%" + c.charCodeAt(0).toString(16).toUpperCase();
            })
            .replace(/%20/g, "+");
    }

    function urlencode(pairs) {
        return pairs
            .map(function (kv) {
                return quotePlus(kv[0]) + "=" + quotePlus(kv[1]);
            })
            .join("&");
    }

    function parseDate(value) {
        if (value === null || value === undefined || value === "") {
            return null;
        }
        var text = String(value).slice(0, 10);
        var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text) || /^(\d{4})(\d{2})(\d{2})$/.exec(text);
        if (!m) {
            return null;
        }
        var y = Number(m[1]), mo = Number(m[2]), d = Number(m[3]);
        var day = new Date(Date.UTC(y, mo - 1, d));
        if (y < 1 || day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) {
            return null;
        }
        return m[1] + "-" + m[2] + "-" + m[3];
    }

    function parsePeriod(value, rules) {
        if (typeof value === "number" && Number.isInteger(value)) {
            var n = value;
        } else if (typeof value === "string" && /^\s*[+-]?\d+\s*$/.test(value)) {
            n = parseInt(value, 10);
        } else {
            return rules.default_period;
        }
        return n >= 1 && n <= rules.max_period ? n : rules.default_period;
    }

    function firstValue(params, name) {
        var all = params.getAll(name).filter(function (v) {
            return v !== "";  // parse_qs drops blank values
        });
        return all.length ? all[0] : null;
    }

    function fromQueryString(search, defaultAsOf, rules) {
        var params = new URLSearchParams((search || "").replace(/^\?/, ""));
        return {
            as_of: parseDate(firstValue(params, "as_of")) || defaultAsOf,
            period_days: parsePeriod(firstValue(params, "period"), rules),
            site: firstValue(params, "site") || null,
        };
    }

    function fromStore(data, defaultAsOf, rules) {
        data = data || {};
        return {
            as_of: parseDate(data.as_of) || defaultAsOf,
            period_days: parsePeriod(data.period_days, rules),
            site: data.site || null,
        };
    }

    function mergedQueryString(f, search, rules) {
        var pairs = [["as_of", f.as_of], ["period", String(f.period_days)]];
        if (f.site) {
            pairs.push(["site", f.site]);
        }
        var own = [];
        new URLSearchParams((search || "").replace(/^\?/, "")).forEach(function (v, k) {
            if (rules.keys.indexOf(k) < 0) {
                own.push([k, v]);
            }
        });
        return "?" + urlencode(pairs) + (own.length ? "&" + urlencode(own) : "");
    }

    function today() {
        var d = new Date();
        var pad = function (n) {
            return (n < 10 ? "0" : "") + n;
        };
        return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
    }

    // Only values that actually change are written back, so the two sides settle after one round.
    // A site in the URL that is not an option stays in the store (pages say it is unknown) but is not
    // written to the dropdown: the dropdown would drop it and silently show all sites instead.
    function syncFilters(search, site, asOf, period, rules, dataAsOf, current, siteOptions) {
        var dc = window.dash_clientside;
        site = site === undefined ? null : site;
        var nu = dc.no_update;
        var triggered = ((dc.callback_context || {}).triggered || [])
            .map(function (t) {
                return String(t.prop_id || "").split(".")[0];
            })
            .filter(function (id) {
                return id !== "";
            });
        var defaultAsOf = parseDate(dataAsOf) || today();
        var f =
            triggered.length === 0 || triggered.indexOf("url") >= 0
                ? fromQueryString(search, defaultAsOf, rules)
                : fromStore({site: site, as_of: asOf, period_days: period}, defaultAsOf, rules);
        var wanted = mergedQueryString(f, search, rules);
        var known = (siteOptions || []).map(function (o) {
            return String(o.value);
        });
        var same =
            current &&
            current.as_of === f.as_of &&
            current.period_days === f.period_days &&
            (current.site || null) === f.site;
        return [
            wanted !== (search || "") ? wanted : nu,
            f.site !== site && (f.site === null || known.indexOf(f.site) >= 0) ? f.site : nu,
            f.as_of !== String(asOf || "").slice(0, 10) ? f.as_of : nu,
            f.period_days !== period ? f.period_days : nu,
            same ? nu : f,
        ];
    }

    // Navigation keeps the filters, so moving between pages keeps the view; the current page's link is
    // marked. In the browser: a server callback here competed with the page body's for the server.
    function navLinks(filters, pathname, ids, rules) {
        var qs = filters ? mergedQueryString(fromStore(filters, filters.as_of, rules), "", rules) : "";
        var current = pathname || "/";
        var hrefs = ids.map(function (i) {
            return i.path + qs;
        });
        var classes = ids.map(function (i) {
            var active = i.path === current || (i.path !== "/" && current.indexOf(i.path) === 0);
            return active ? "nav-link active" : "nav-link";
        });
        return [hrefs, classes];
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        medtower: Object.assign({}, (window.dash_clientside || {}).medtower, {
            syncFilters: syncFilters,
            navLinks: navLinks,
        }),
    });

    // Grid cells that link to a drill-down keep the filters of the current URL; a grid now stays
    // mounted across filter changes, so the links hear of a changed URL from this event.
    if (!window.__mtLocationEvents) {
        window.__mtLocationEvents = true;
        ["pushState", "replaceState"].forEach(function (name) {
            var original = window.history[name];
            window.history[name] = function () {
                var out = original.apply(this, arguments);
                window.dispatchEvent(new Event("mt-locationchange"));
                return out;
            };
        });
        window.addEventListener("popstate", function () {
            window.dispatchEvent(new Event("mt-locationchange"));
        });
    }
})();
