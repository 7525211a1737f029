// In-app drill-down links for AG Grid cells: keep the global filters (query string) and
// navigate without a full page load, the way dcc.Link does.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

// The grid stays mounted across filter changes and a grid whose rows did not change keeps its cells, so
// the link follows the URL itself (assets/filters.js announces each change as "mt-locationchange").
function useSearch() {
    var state = React.useState(window.location.search);
    var setSearch = state[1];
    React.useEffect(function () {
        var update = function () {
            setSearch(window.location.search);
        };
        window.addEventListener("mt-locationchange", update);
        update();
        return function () {
            window.removeEventListener("mt-locationchange", update);
        };
    }, []);
    return state[0];
}

// Follow an in-app link without a full page load, the way dcc.Link does; false: let the browser open it
// (a new tab or window asked for with a modifier key or another button).
function mtFollow(event, href) {
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey || (event.button || 0) !== 0) {
        return false;
    }
    event.preventDefault();
    window.history.pushState({}, "", href);
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    window.scrollTo(0, 0);
    return true;
}

// The links of a short table drawn as plain HTML (components.plain_table) carry no query: the filters are
// added when the link is pointed at (so "open in new tab" keeps them too) and when it is followed.
function mtPlainLink(event) {
    var link = event.target && event.target.closest ? event.target.closest("a.plain-link") : null;
    if (!link) {
        return null;
    }
    var base = link.getAttribute("data-base") || link.getAttribute("href").split("?")[0];
    link.setAttribute("data-base", base);
    link.setAttribute("href", base + window.location.search);
    return link;
}
["mouseover", "focusin"].forEach(function (name) {
    document.addEventListener(name, mtPlainLink);
});
document.addEventListener("click", function (event) {
    var link = mtPlainLink(event);
    if (link && !event.defaultPrevented) {
        mtFollow(event, link.getAttribute("href"));
    }
});

dagcomponentfuncs.DrillLink = function (props) {
    var search = useSearch();
    if (props.value === null || props.value === undefined || props.value === "") {
        return null;
    }
    var href = props.route + encodeURIComponent(props.value) + search;
    return React.createElement(
        "a",
        {
            href: href,
            className: "drill-link",
            onClick: function (event) {
                mtFollow(event, href);
            },
        },
        String(props.value)
    );
};
