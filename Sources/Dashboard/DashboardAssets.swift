/// The control room's front end: `Public/index.html`, `Public/style.css` and the script's ES modules
/// (`Public/*.mjs`: `main.mjs` routes between the views `overview.mjs`, `job.mjs`, `canvas.mjs` and `workers.mjs`),
/// compiled into the binary as package resources (`embedInCode`), so an installed `stylefarm` is still one file.
/// The server serves the page at `/` and the rest at `/app/NAME`; Leaflet comes from Debian's libjs-leaflet at
/// `/vendor/leaflet/`. Docs/dashboard.md says what each module draws.
public enum DashboardAssets {
    /// A file of the front end: its bytes and the `Content-Type` it is served with.
    public struct Asset: Sendable {
        public let bytes: [UInt8]
        public let contentType: String
    }

    /// The page served at `/`.
    public static let page = Asset(bytes: PackageResources.index_html, contentType: "text/html; charset=utf-8")

    /// Everything served under `/app/`, by name.
    public static let files: [String: Asset] = [
        "style.css": Asset(bytes: PackageResources.style_css, contentType: "text/css; charset=utf-8"),
        "main.mjs": script(PackageResources.main_mjs),
        "util.mjs": script(PackageResources.util_mjs),
        "state.mjs": script(PackageResources.state_mjs),
        "route.mjs": script(PackageResources.route_mjs),
        "overview.mjs": script(PackageResources.overview_mjs),
        "workers.mjs": script(PackageResources.workers_mjs),
        "job.mjs": script(PackageResources.job_mjs),
        "canvas.mjs": script(PackageResources.canvas_mjs),
        "actions.mjs": script(PackageResources.actions_mjs)
    ]

    static func script(_ bytes: [UInt8]) -> Asset {
        Asset(bytes: bytes, contentType: "text/javascript; charset=utf-8")
    }
}
