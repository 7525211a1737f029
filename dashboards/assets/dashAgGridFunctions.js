// Number formatting for grid cells: thousands separators, at most two decimals.
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
dagfuncs.mtNumber = function (value) {
    if (value === null || value === undefined || value === "") {
        return "";
    }
    var n = Number(value);
    if (isNaN(n)) {
        return String(value);
    }
    return n.toLocaleString("en-US", { maximumFractionDigits: Number.isInteger(n) ? 0 : 2 });
};
