import BLASKernel
import Foundation
import Testing

/// The kernel choice, decision by decision, with probes faked; the probe itself, for real, in child processes.
@Suite struct KernelSelectionTests {
    static let emeraldRapids = CPUFeatures(
        vendor: "GenuineIntel", family: 6, model: 207, stepping: 2,
        brand: "Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz", level: .avx512bf16)
    static let zen3 = CPUFeatures(
        vendor: "AuthenticAMD", family: 25, model: 1, stepping: 1, brand: "AMD EPYC", level: .avx2)

    static func report(
        _ kernel: String?, gflops: Double, error: Double = 1e-7, core: String? = nil, failure: String? = nil
    ) -> ProbeReport {
        ProbeReport(
            requested: kernel, core: core ?? kernel ?? "Prescott", worstError: failure == nil ? error : nil,
            gflops: failure == nil ? gflops : nil, failure: failure)
    }

    /// A fake prober: answers from a table and records what it was asked.
    final class Prober: @unchecked Sendable {
        var table: [String: ProbeReport]
        var asked: [String] = []
        init(_ table: [String: ProbeReport]) { self.table = table }
        func callAsFunction(_ kernel: String?) -> ProbeReport {
            asked.append(kernel ?? "(pick)")
            return table[kernel ?? "(pick)"]
                ?? KernelSelectionTests.report(kernel, gflops: 0, failure: "not in the table")
        }
    }

    @Test func candidatesFollowTheInstructionSetBestFirst() {
        #expect(KernelCatalog.candidates(for: Self.emeraldRapids) == ["Cooperlake", "SkylakeX", "Haswell"])
        #expect(KernelCatalog.candidates(for: Self.zen3) == ["Zen", "Haswell"])
        var old = Self.zen3
        old.level = .sse3
        #expect(KernelCatalog.candidates(for: old).isEmpty)
        #expect(KernelCatalog.isWeaker("Prescott", than: Self.emeraldRapids))
        #expect(KernelCatalog.isWeaker("Haswell", than: Self.emeraldRapids))
        #expect(!KernelCatalog.isWeaker("Cooperlake", than: Self.emeraldRapids))
        #expect(!KernelCatalog.isWeaker("Zen", than: Self.zen3))
        #expect(!KernelCatalog.isWeaker("Prescott", than: old))
    }

    @Test func aWeakPickIsReplacedByTheBestCandidateThatPassesAndIsFaster() {
        // Cooperlake crashes, SkylakeX computes wrong results, Haswell passes at twice the speed.
        let prober = Prober([
            "(pick)": Self.report(nil, gflops: 40),
            "Cooperlake": Self.report("Cooperlake", gflops: 0, failure: "killed by signal 4"),
            "SkylakeX": Self.report("SkylakeX", gflops: 120, error: 0.3),
            "Haswell": Self.report("Haswell", gflops: 80)
        ])
        let (decision, probed) = KernelSelection.decide(
            environment: [:], picked: "Prescott", cpu: Self.emeraldRapids, key: "k",
            cached: nil, now: 1
        ) { prober($0) }
        #expect(prober.asked == ["(pick)", "Cooperlake", "SkylakeX", "Haswell"])
        guard case .reexecute(let kernel, let reason) = decision else { Issue.record("kept: \(decision)"); return }
        #expect(kernel == "Haswell")
        #expect(reason.contains("Haswell passed the self-test and ran 80 GFLOP/s against 40"))
        #expect(probed?.chosen == "Haswell" && probed?.reports.count == 4 && probed?.key == "k")
        #expect(probed?.reports[1].verdict == "killed by signal 4")
        #expect(probed?.reports[2].verdict?.hasPrefix("wrong results") == true)
    }

    @Test func theFirstPassingCandidateWinsAndSlowerOrSubstitutedOnesDoNot() {
        // Cooperlake passes but OpenBLAS ran Haswell instead (it lacks it): not the kernel asked for.
        let substituted = Prober([
            "(pick)": Self.report(nil, gflops: 40),
            "Cooperlake": Self.report("Cooperlake", gflops: 100, core: "Haswell"),
            "SkylakeX": Self.report("SkylakeX", gflops: 110), "Haswell": Self.report("Haswell", gflops: 90)
        ])
        let (first, _) = KernelSelection.decide(
            environment: [:], picked: "Prescott", cpu: Self.emeraldRapids, key: "k",
            cached: nil, now: 1
        ) { substituted($0) }
        #expect(
            first
                == .reexecute(
                    kernel: "SkylakeX",
                    reason: "OpenBLAS picked Prescott; SkylakeX passed the self-test and ran 110 GFLOP/s against 40"))
        #expect(substituted.asked == ["(pick)", "Cooperlake", "SkylakeX"])
        // Nothing at least 10% faster: keep OpenBLAS's pick, and say why.
        let slow = Prober([
            "(pick)": Self.report(nil, gflops: 100), "Cooperlake": Self.report("Cooperlake", gflops: 105),
            "SkylakeX": Self.report("SkylakeX", gflops: 95), "Haswell": Self.report("Haswell", gflops: 60)
        ])
        let (kept, probed) = KernelSelection.decide(
            environment: [:], picked: "Prescott", cpu: Self.emeraldRapids, key: "k",
            cached: nil, now: 1
        ) { slow($0) }
        guard case .keep(let inUse) = kept else { Issue.record("re-executed: \(kept)"); return }
        #expect(inUse.core == "Prescott" && inUse.reason.contains("no better kernel was found"))
        #expect(inUse.reason.contains("Cooperlake: 105 GFLOP/s, not faster"))
        #expect(probed?.chosen == nil)
    }

    @Test func theUsersSettingAStrongPickAndACachedChoiceNeedNoProbe() {
        let prober = Prober([:])
        let user = KernelSelection.decide(
            environment: ["OPENBLAS_CORETYPE": "Prescott"], picked: "Prescott",
            cpu: Self.emeraldRapids, key: "k", cached: nil, now: 1
        ) { prober($0) }
        #expect(user.decision == .keep(KernelInUse(core: "Prescott", reason: "set by you: OPENBLAS_CORETYPE=Prescott")))
        let fellBack = KernelSelection.decide(
            environment: ["OPENBLAS_CORETYPE": "SapphireRapids"], picked: "Haswell",
            cpu: Self.zen3, key: "k", cached: nil, now: 1
        ) { prober($0) }
        guard case .keep(let inUse) = fellBack.decision else { Issue.record("\(fellBack.decision)"); return }
        #expect(inUse.reason.contains("has no such kernel for this CPU and ran Haswell"))
        // After StyleFarm's own re-execution: its marker says whose setting it is.
        let ours = KernelSelection.decide(
            environment: [
                "OPENBLAS_CORETYPE": "Haswell", "STYLEFARM_BLAS_KERNEL": "Haswell",
                "STYLEFARM_BLAS_REASON": "because"
            ],
            picked: "Haswell", cpu: Self.emeraldRapids, key: "k", cached: nil, now: 1
        ) { prober($0) }
        #expect(ours.decision == .keep(KernelInUse(core: "Haswell", reason: "chosen by StyleFarm: because")))
        let strong = KernelSelection.decide(
            environment: [:], picked: "Zen", cpu: Self.zen3, key: "k", cached: nil, now: 1
        ) { prober($0) }
        #expect(
            strong.decision
                == .keep(KernelInUse(core: "Zen", reason: "picked by OpenBLAS, the best this CPU (AVX2) runs")))
        let cached = KernelChoice(
            key: "k", picked: "Prescott", chosen: "Cooperlake", reason: "measured", reports: [], probedAt: 1)
        let hit = KernelSelection.decide(
            environment: [:], picked: "Prescott", cpu: Self.emeraldRapids, key: "k", cached: cached, now: 2
        ) { prober($0) }
        #expect(hit.decision == .reexecute(kernel: "Cooperlake", reason: "measured") && hit.probed == nil)
        #expect(prober.asked.isEmpty)
        // A cache naming a kernel that is not among this CPU's candidates (AVX-512 on an AVX2 machine) is ignored.
        var poisoned = cached
        poisoned.chosen = "SkylakeX"
        let zenPicked = Prober(["(pick)": Self.report(nil, gflops: 80), "Zen": Self.report("Zen", gflops: 120)])
        let ignored = KernelSelection.decide(
            environment: [:], picked: "Prescott", cpu: Self.zen3, key: "k", cached: poisoned, now: 2
        ) {
            zenPicked($0)
        }
        #expect(ignored.probed != nil && zenPicked.asked == ["(pick)", "Zen"])
        #expect(
            ignored.decision
                == .reexecute(
                    kernel: "Zen",
                    reason: "OpenBLAS picked Prescott; Zen passed the self-test and ran 120 GFLOP/s against 80"))
    }

    @Test func theCacheSurvivesGarbageAndKeepsOneChoicePerKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-cache-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = KernelChoiceCache(directory: dir)
        #expect(cache.load(key: "a") == nil)
        let choice = KernelChoice(
            key: "a", picked: "Prescott", chosen: "SkylakeX", reason: "r",
            reports: [Self.report(nil, gflops: 1)], probedAt: 3)
        cache.save(choice)
        #expect(cache.load(key: "a") == choice)
        #expect(cache.load(key: "b") == nil)
        #expect(cache.path(for: "a") != cache.path(for: "b"))
        for garbage in [Data(), Data("{".utf8), Data("{\"key\": 5}".utf8), Data(repeating: 0xFF, count: 4096)] {
            try garbage.write(to: URL(fileURLWithPath: cache.path(for: "a")))
            #expect(cache.load(key: "a") == nil)
        }
        // Another key's choice stored under this key's name (a hash collision, a copied file) is not this key's.
        try JSONEncoder().encode(KernelChoice(key: "b", picked: "x", chosen: "y", reason: "", reports: [], probedAt: 0))
            .write(to: URL(fileURLWithPath: cache.path(for: "a")))
        #expect(cache.load(key: "a") == nil)
    }

    @Test func theSelfTestPassesOnThisMachinesKernelAndTheCPUIsRead() {
        let cpu = CPUFeatures.current()
        #expect(cpu.level != nil, "an x86-64 machine runs at least SSE3")
        #expect(!cpu.vendor.isEmpty && !cpu.brand.isEmpty)
        let worst = KernelSelfTest.worstError()
        #expect(worst <= KernelSelfTest.tolerance, "OpenBLAS \(KernelSelection.openBLASCore): \(worst)")
        #expect(worst > 0, "float32 sgemm against a double reference cannot be exact on every shape")
        #expect(KernelSelfTest.gflops(seconds: 0.05) > 0.5)
    }

    @Test(.timeLimit(.minutes(2))) func aProbeChildThatCrashesHangsOrSaysNothingFails() {
        let crash = KernelProbe(executable: "/bin/sh", arguments: ["-c", "kill -ILL $$"]).run(kernel: "SkylakeX")
        #expect(crash.verdict == "killed by signal 4" && !crash.passed)
        let hang = KernelProbe(executable: "/bin/sh", arguments: ["-c", "exec sleep 30"], timeout: 1).run(
            kernel: "Haswell")
        #expect(hang.verdict == "timed out after 1 s")
        let silent = KernelProbe(executable: "/bin/sh", arguments: ["-c", "echo not json"]).run(kernel: "Haswell")
        #expect(silent.verdict == "no report in its output")
        let failing = KernelProbe(executable: "/bin/sh", arguments: ["-c", "exit 3"]).run(kernel: nil)
        #expect(failing.verdict == "exited with status 3")
        // The child sees the kernel asked for, and no StyleFarm marker from this process.
        let script =
            #"printf '{"core":"%s","worstError":1e-8,"gflops":1}\n' "$OPENBLAS_CORETYPE$STYLEFARM_BLAS_KERNEL""#
        let env = KernelProbe(executable: "/bin/sh", arguments: ["-c", script]).run(kernel: "Zen")
        #expect(env.core == "Zen" && env.passed)
    }
}
