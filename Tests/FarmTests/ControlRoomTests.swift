import FarmClient
import FarmMonitor
import FarmProtocol
import FarmTransport
import Foundation
import HeadlessBrowser
import Imaging
import StyleCore
import Testing

/// The control room as a user drives it (Docs/dashboard.md): a CURVE farm of two workers on loopback, headless
/// Chromium signed in with key tokens. A client opens its job, reads the tile grid, opens a tile's loss curve, zooms the
/// canvas to 1:1 and reads a pixel that matches the output; cancels its own job and is refused (with the message shown)
/// on another's; an admin drains a worker, which finishes its tile and takes no more. With $STYLEFARM_SCREENSHOTS set,
/// the pages are saved there (Docs/images comes from such a run).
@Suite(.serialized, .timeLimit(.minutes(5))) struct ControlRoomTests {
    /// A job with enough tiles to watch: 144×96 in three stages of 48-px tiles.
    static var spec: JobSpec {
        var spec = SmallJob.spec
        (spec.poster.width, spec.poster.height, spec.poster.iterations) = (144, 96, [10, 24])
        return spec
    }

    static func inputs() throws -> [[UInt8]] {
        try ["chelsea.png", "hokusai_great_wave.jpg"].map {
            [UInt8](try Data(contentsOf: SmallJob.assets.appendingPathComponent($0)))
        }
    }

    @Test func aClientAndAnAdminSteerTheFarmFromThePage() throws {
        let farm = try TestFarm()
        let keys = farm.dir.appendingPathComponent("keys")
        try FileManager.default.createDirectory(
            at: keys.appendingPathComponent("workers"), withIntermediateDirectories: true)
        func pair(_ name: String, in dir: URL) throws -> CurveKeyPair {
            let p = try CurveKeyPair.generate()
            _ = try p.write(directory: dir, name: name)
            return p
        }
        let server = try pair("coordinator", in: keys),
            worker = try pair("worker", in: keys.appendingPathComponent("workers"))
        let alice = try pair("alice", in: keys), bob = try pair("bob", in: keys), root = try pair("root", in: keys)
        try farm.startCoordinator(
            extra: ["--dashboard", "127.0.0.1:0"],
            security: [
                "--curve-secret", keys.appendingPathComponent("coordinator.key").path,
                "--allow-workers", keys.appendingPathComponent("workers").path,
                "--allow-clients", keys.appendingPathComponent("alice.pub").path,
                "--allow-clients", keys.appendingPathComponent("bob.pub").path,
                "--allow-admins", keys.appendingPathComponent("root.pub").path
            ])
        let workerSecurity = [
            "--server-key", server.publicKey, "--curve-secret", keys.appendingPathComponent("workers/worker.key").path
        ]
        try farm.startWorker(security: workerSecurity)
        try farm.startWorker(security: workerSecurity)
        _ = worker
        func client(_ keys: CurveKeyPair) -> FarmClient {
            FarmClient(
                endpoint: farm.endpoint, security: ClientSecurity(serverKey: server.publicKey, keys: keys), timeout: 5,
                retries: 2)
        }
        farm.clientSecurity = ClientSecurity(serverKey: server.publicKey, keys: root)
        let base = try farm.dashboardURL()
        let (aliceToken, rootToken) = (
            try DashboardToken.make(keys: alice, server: server.publicKey),
            try DashboardToken.make(keys: root, server: server.publicKey)
        )
        // Bob's job and a second of alice's wait paused; alice's first one renders.
        let bobs = try client(bob).submit(Self.spec, inputs: Self.inputs())
        _ = try client(bob).control(ControlBody(.pause, job: bobs))
        let spare = try client(alice).submit(Self.spec, inputs: Self.inputs())
        _ = try client(alice).control(ControlBody(.pause, job: spare))
        let job = try client(alice).submit(Self.spec, inputs: Self.inputs())
        let shots = ProcessInfo.processInfo.environment["STYLEFARM_SCREENSHOTS"].map { URL(fileURLWithPath: $0) }

        // An admin drains w0 as soon as the first tiled stage runs: it finishes the tile it holds and takes no more.
        let admin = try HeadlessBrowser()
        defer { admin.close() }
        _ = try farm.waitFor("the first tiled stage", seconds: 150) { s in
            (s.jobs.first { $0.id == job }?.stage ?? 0) >= 1
        }
        try admin.navigate(base + "#/workers?token=" + rootToken)
        try admin.waitFor("document.querySelectorAll('#workers tr.worker').length == 2", what: "both workers listed")
        let w0 = try #require(try farm.client.status().workers.first { $0.name == "w0" })
        try admin.click("button[data-action=drain][data-worker=\"\(w0.id)\"]")
        try admin.waitFor(
            "document.querySelector('#message.ok')?.textContent.includes('draining')", what: "the drain confirmed")
        let drainedAt = Date().timeIntervalSince1970
        let heldAtDrain = w0.leases.count
        try admin.waitFor(
            "document.querySelector('#workers tr.worker[data-worker=\"\(w0.id)\"]')?.dataset.state == 'draining'",
            what: "the worker shown draining")
        if let shots { try admin.screenshot(to: shots.appendingPathComponent("control-room-workers.png")) }

        // Alice opens her job and reads its tile grid.
        let user = try HeadlessBrowser()
        defer { user.close() }
        try user.navigate(base + "#/job/" + job.rawValue + "?token=" + aliceToken)
        try user.waitFor(
            "document.querySelector('#job-page')?.dataset.loadedJob == '\(job)' && document.querySelectorAll('#tile-grid rect.tile').length > 0",
            what: "the job page with its tile grid")
        #expect(
            try user.evaluate("document.querySelector('#who').textContent") as? String == "signed in as alice (client)")
        try user.waitFor(
            "document.querySelectorAll('#tile-grid rect.tile.done').length > 0", timeout: 60, what: "a finished tile")
        let tiles = try #require(
            user.evaluate("[...document.querySelectorAll('#tile-grid rect.tile')].map(r => r.dataset.state)")
                as? [String])
        let detail = try JSONDecoder().decode(
            JobDetail.self,
            from: try httpRequest(
                "GET",
                base + "api/jobs/\(job)?stage="
                    + "\(try #require(user.evaluate("document.querySelector('#tile-grid svg').dataset.stage") as? String))",
                token: aliceToken
            ).1)
        #expect(tiles.count == detail.tiles.count, "one rectangle per tile of the stage")

        // A finished tile's loss curve.
        let index = try #require(
            user.evaluate("document.querySelector('#tile-grid rect.tile.done').dataset.index") as? String)
        try user.click("#tile-grid rect[data-index=\"\(index)\"]")
        try user.waitFor(
            "document.querySelector('#tile-panel')?.dataset.tile == '\(index)' && +document.querySelector('#loss-curve')?.dataset.points > 1",
            what: "the tile's loss curve")
        let stage = try #require(user.evaluate("document.querySelector('#tile-panel').dataset.stage") as? String)
        let curve = try JSONDecoder().decode(
            TileDetail.self,
            from: try httpRequest(
                "GET", base + "api/jobs/\(job)/tiles/\(stage)/\(index)",
                token: aliceToken
            ).1
        ).curve
        #expect(try user.evaluate("+document.querySelector('#loss-curve').dataset.points") as? Int == curve.count)
        if let shots { try user.screenshot(to: shots.appendingPathComponent("control-room-job.png"), fullPage: true) }

        // Another's job: as on the wire, it does not exist for her (the page says so) and cannot be touched. Her own spare
        // job: cancelled. Her token went into a session at sign-in and is no longer in the address.
        #expect(
            (try user.evaluate("location.href") as? String)?.contains(aliceToken) == false, "the token left the address"
        )
        try user.navigate(base + "#/job/" + bobs.rawValue)
        try user.waitFor(
            "document.querySelector('#job-status')?.textContent.includes('not found')",
            what: "bob's job, not found for alice")
        if let shots { try user.screenshot(to: shots.appendingPathComponent("control-room-refusal.png")) }
        #expect(try httpRequest("POST", base + "api/jobs/\(bobs)/cancel", token: aliceToken).0 == 404)
        #expect(try client(bob).status(job: bobs).jobs.first?.state == .running, "bob's job is untouched")
        try user.navigate(base + "#/job/" + spare.rawValue)
        try user.waitFor(
            "document.querySelector('#job-page')?.dataset.loadedJob == '\(spare)'", what: "the spare job's page")
        try user.click("button[data-action=cancel]")
        try user.waitFor(
            "document.querySelector('#message.ok')?.textContent.includes('cancelled')", what: "the cancel confirmed")
        #expect(try client(alice).status(job: spare).jobs.first?.state == .cancelled)

        // The job finishes on w1 alone: w0 took nothing after the drain.
        let output = try farm.finish(job, seconds: 180)
        let log = try JSONDecoder().decode(
            JobDetail.self, from: try httpRequest("GET", base + "api/jobs/\(job)", token: rootToken).1
        ).events
        let leasedToW0 = log.filter { $0.kind == "leased" && $0.worker == w0.id.rawValue && $0.time > drainedAt + 0.5 }
        #expect(leasedToW0.isEmpty, "no lease for the drained worker after the drain: \(leasedToW0.map(\.message))")
        let w0After = try #require(try farm.client.status().workers.first { $0.id == w0.id })
        #expect(
            w0After.tiles <= w0.tiles + heldAtDrain && w0After.leases.isEmpty, "it finished at most the tile it held")

        // The canvas at 1:1: a pixel of the viewer's tile is the output's pixel.
        try user.navigate(base + "#/job/" + job.rawValue)
        try user.waitFor(
            "window.canvasMap && window.canvasInfo && window.canvasInfo.width == 144", what: "the deep-zoom viewer")
        try user.click("#zoom-1to1")
        let (px, py) = (100, 60)
        let read = """
            (() => { const z = canvasInfo.maxZoom, img = [...document.querySelectorAll('#canvas-view img.leaflet-tile')]
                .find(i => i.complete && i.naturalWidth == 256 && i.src.includes('/canvas/' + z + '/\(px / 256)/\(py / 256).png'));
              if (!img || canvasMap.getZoom() != z) return null;
              const c = document.createElement('canvas'); c.width = c.height = 256; const g = c.getContext('2d');
              g.drawImage(img, 0, 0); return Array.from(g.getImageData(\(px % 256), \(py % 256), 1, 1).data.slice(0, 3)); })()
            """
        try user.waitFor(read, what: "the 1:1 tile")
        let pixel = try #require(user.evaluate(read) as? [Int])
        let file = farm.dir.appendingPathComponent("output.png")
        try Data(output).write(to: file)
        let image = try ImageIO.read(file).image
        let expected = (0 ..< 3).map { c in image.pixels[(c * image.height + py) * image.width + px] * 255 }
        #expect(zip(pixel, expected).allSatisfy { abs(Float($0) - $1) <= 1 }, "viewer \(pixel), output \(expected)")
        if let shots { try user.screenshot(to: shots.appendingPathComponent("control-room-canvas.png")) }

        try admin.navigate(base + "#/")
        try admin.waitFor("document.querySelectorAll('#jobs-table tr[data-job]').length == 3", what: "the jobs table")
        if let shots { try admin.screenshot(to: shots.appendingPathComponent("control-room-jobs.png")) }
    }
}
