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

// CSV export: a text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is written
// with a leading apostrophe, as medtower/spreadsheet.py does for the server's exports.
dagfuncs.mtSafeCell = function (params) {
    var v = params.value;
    if (v === null || v === undefined) {
        return "";
    }
    if (typeof v === "string" && /^[=+\-@\t\r]/.test(v)) {
        return "'" + v;
    }
    return v;
};

// The grids' theme, made once: dash-ag-grid evaluates the theme expression on every render of a grid, and
// AG Grid re-applies a theme it is given as a new object (it compares by identity), re-measuring the grid
// on each update of its rows. `base` is dash-ag-grid's themeBalham.
var mtThemeCache = null;
dagfuncs.mtTheme = function (base) {
    if (mtThemeCache === null || mtThemeCache.base !== base) {
        mtThemeCache = {base: base, theme: base.withParams({accentColor: "#0b5cad", fontSize: 12})};
    }
    return mtThemeCache.theme;
};
