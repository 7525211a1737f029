// In-app drill-down links for AG Grid cells: keep the global filters (query string) and
// navigate without a full page load, the way dcc.Link does.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

dagcomponentfuncs.DrillLink = function (props) {
    if (props.value === null || props.value === undefined || props.value === "") {
        return null;
    }
    var href = props.route + encodeURIComponent(props.value) + window.location.search;
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
