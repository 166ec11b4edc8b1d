import FarmMonitor
import FarmProtocol
import Foundation
import Hummingbird
import JobModel

/// The server's routes, one group per concern (Docs/openapi.yaml is their spec).
extension DashboardServer {
    /// The page and its files, Leaflet's, health and metrics.
    func addPageRoutes(_ router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/") { _, _ in Self.asset(DashboardAssets.page) }
        router.get("/app/:file") { _, context in
            let name = try context.parameters.require("file")
            guard let asset = DashboardAssets.files[name] else { throw APIError(404, "not-found", "no /app/\(name)") }
            return Self.asset(asset)
        }
        router.get("/vendor/leaflet/:file") { [leaflet] _, context in
            try Self.vendor(leaflet, try context.parameters.require("file"))
        }
        router.get("/vendor/leaflet/images/:file") { [leaflet] _, context in
            try Self.vendor(leaflet + "/images", try context.parameters.require("file"))
        }
        router.get("/metrics") { [monitor] _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: monitor.prometheusText())))
        }
    }

    /// Who the caller is, and signing in and out (a session cookie for a key token).
    func addSessionRoutes(_ router: Router<BasicRequestContext>) {
        router.get("/api/whoami") { [access] request, _ in try Self.whoami(APIMiddleware.identity(request, access)) }
        // A page exchanges its token (in the Authorization header, never in a URL) for a session cookie, which the
        // browser then sends with everything, its event stream and images included.
        router.post("/api/session") { [access] request, _ in
            guard let token = APIMiddleware.bearer(request), let identity = access.identify(token: token) else {
                throw APIError(401, "unauthorized", "POST /api/session needs a valid token in Authorization: Bearer …")
            }
            var response = try Self.whoami(identity)
            let id = access.sessions.start(identity)
            response.headers[.setCookie] =
                "\(DashboardSessions.cookie)=\(id); Path=/; HttpOnly; SameSite=Strict; "
                + "Max-Age=\(Int(DashboardSessions.lifetime))"  // safe-int: a constant
            return response
        }
        router.delete("/api/session") { [access] request, _ in
            if let id = APIMiddleware.session(request) { access.sessions.end(id) }
            var response = try Self.json(["signedOut": true])
            response.headers[.setCookie] = "\(DashboardSessions.cookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
            return response
        }
    }

    /// The farm as the caller may see it: status, workers, jobs, and the change-only event stream.
    func addFarmRoutes(_ router: Router<BasicRequestContext>) {
        router.get("/api/status") { [self] request, _ in try Self.json(scope(request).filter(monitor.snapshot)) }
        router.get("/api/workers") { [self] request, _ in
            try Self.json(scope(request).filter(workers: monitor.snapshot.workers))
        }
        router.get("/api/jobs") { [self] request, _ in
            let q = request.uri.queryParameters
            let filter: JobFilter
            do { filter = try JobFilter(states: q.get("state"), owner: q.get("owner")) } catch let e as ControlRefusal {
                throw APIError(e)
            }
            return try Self.json(scope(request).filter(monitor.snapshot).jobs.map(\.status).filter(filter.matches))
        }
        router.get("/api/events") { [self] request, _ in try eventStream(scope(request)) }
    }

    /// A job's page: its detail, a tile, the job file, its inputs, its preview.
    func addJobRoutes(_ router: Router<BasicRequestContext>) {
        router.get("/api/jobs/:id") { [self] request, context in
            let id = try visibleJob(request, context)
            // safe-int: a failable parse of text
            let stage = request.uri.queryParameters.get("stage").flatMap { Int($0) }
            guard let detail = await console?.jobDetail(id, stage: stage) else { throw Self.noJob(id) }
            return try Self.json(detail)
        }
        router.get("/api/jobs/:id/tiles/:stage/:tile") { [self] request, context in
            let id = try visibleJob(request, context)
            // safe-int: a failable parse of text
            guard let stage = Int(try context.parameters.require("stage")),
                let tile = Int(try context.parameters.require("tile")),  // safe-int: a failable parse of text
                let detail = await console?.tileDetail(job: id, stage: stage, tile: tile)
            else {
                throw APIError(404, "not-found", "no such tile of job \(id)")
            }
            return try Self.json(detail)
        }
        router.get("/api/jobs/:id/job.toml") { [self] request, context in
            let id = try visibleJob(request, context)
            return try await jobFile(id)
        }
        router.get("/api/jobs/:id/inputs/:n") { [self] request, context in
            let id = try visibleJob(request, context)
            // safe-int: a failable parse of text
            guard let n = Int(try context.parameters.require("n")),
                let url = await console?.jobInputFile(job: id, index: n),
                let file = try? FileHandle(forReadingFrom: url)
            else {
                throw APIError(404, "not-found", "no such input of job \(id)")
            }
            let names = await console?.jobDetail(id, stage: nil)?.spec.inputNames(id) ?? []
            let name = n < names.count ? names[n] : "\(id)-input-\(n)"
            return try streamed(
                file,
                headers: [
                    .contentType: "application/octet-stream", .contentDisposition: "attachment; filename=\"\(name)\""
                ])
        }
        router.get("/api/jobs/:id/preview.png") { [self] request, context in
            let id = try visibleJob(request, context)
            guard let png = monitor.preview(job: id) else {
                throw APIError(404, "not-found", "no preview for job \(id)")
            }
            return Self.png(png)
        }
    }

    /// A job as a job file (`stylefarm submit ID.toml` with its images beside it), as an attachment.
    func jobFile(_ id: JobID) async throws -> Response {
        guard let detail = await console?.jobDetail(id, stage: nil) else { throw Self.noJob(id) }
        let spec = detail.spec, names = spec.inputNames(id)
        let styles = Array(names[1 ..< 1 + spec.styleWeights.count])
        let description = JobDescription(
            spec: spec, content: names[0], styles: styles, output: "\(id).\(spec.format == "tiff" ? "tif" : "png")",
            regionMask: names.first { $0.hasSuffix("-region-mask") },
            styleMasks: styles.map { style in names.first { $0 == style + "-mask" } })
        let text =
            "# Job \(id) as a job file: `stylefarm submit \(id).toml` with its images beside it (GET /api/jobs/\(id)/inputs/N)\n"
            + (detail.spec.frame == nil
                ? "" : "# A video frame's job: its start image and mask are not part of a job file.\n")
            + (try description.tomlText())
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/toml; charset=utf-8",
                .contentDisposition: "attachment; filename=\"\(id).toml\""
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A job's canvas for the deep-zoom viewer: its size and version, and 256-px tiles.
    func addCanvasRoutes(_ router: Router<BasicRequestContext>) {
        router.get("/api/jobs/:id/canvas") { [self] request, context in
            let id = try visibleJob(request, context)
            guard let info = await console?.canvasInfo(job: id) else {
                throw APIError(404, "not-found", "job \(id) has no canvas yet")
            }
            return try Self.json(info)
        }
        router.get("/api/jobs/:id/canvas/:z/:x/:y") { [self] request, context in
            let id = try visibleJob(request, context)
            let y = try context.parameters.require("y")
            // safe-int: a failable parse of text
            guard let z = Int(try context.parameters.require("z")), let x = Int(try context.parameters.require("x")),
                y.hasSuffix(".png"), let row = Int(y.dropLast(4))  // safe-int: a failable parse of text
            else {
                throw APIError(404, "not-found", "no such canvas tile of job \(id)")
            }
            let place = try takeFilePlace()
            defer { place.release() }
            guard let png = await console?.canvasTile(job: id, zoom: z, x: x, y: row) else {
                throw APIError(404, "not-found", "no such canvas tile of job \(id)")
            }
            return Self.png(png, cache: "private, max-age=3600")  // the URL carries the canvas's version
        }
    }

    /// The controls: a job's verbs and a worker's, decided by the coordinator (`control`).
    func addControlRoutes(_ router: Router<BasicRequestContext>) {
        for verb in ControlBody.Verb.jobVerbs {
            router.post("/api/jobs/:id/\(verb.rawValue)") { [self] request, context in
                let id = JobID(try context.parameters.require("id"))
                var priority: Int?
                if verb == .priority {
                    let body = try await request.body.collect(upTo: 4096)
                    priority = (try? JSONDecoder().decode(PriorityBody.self, from: Data(buffer: body)))?.priority
                }
                return try await control(ControlBody(verb, job: id, priority: priority), request: request)
            }
        }
        for verb in ControlBody.Verb.workerVerbs {
            router.post("/api/workers/:id/\(verb.rawValue)") { [self] request, context in
                try await control(ControlBody(verb, worker: try context.parameters.require("id")), request: request)
            }
        }
    }
}
