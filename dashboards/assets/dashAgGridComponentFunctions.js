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
                if (event.ctrlKey || event.metaKey || event.shiftKey) {
                    return;
                }
                event.preventDefault();
                window.history.pushState({}, "", href);
                window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
                window.scrollTo(0, 0);
            },
        },
        String(props.value)
    );
};
