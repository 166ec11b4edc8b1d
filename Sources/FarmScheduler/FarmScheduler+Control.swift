import FarmProtocol

/// What people change by hand (`ControlBody`): pausing and prioritising jobs, giving failed tiles and failed jobs
/// another chance, draining workers and clearing their blocklists. Each returns whether it applied; the coordinator's
/// core decides who may ask and what to answer.
extension FarmScheduler {
    /// Pauses (no tile leased; the leases out run on) or resumes a job. False if unknown.
    public mutating func setPaused(job id: JobID, _ paused: Bool) -> Bool {
        guard jobs[id] != nil else { return false }
        jobs[id]?.paused = paused
        return true
    }

    public func isPaused(job id: JobID) -> Bool { jobs[id]?.paused ?? false }

    public func priority(of job: JobID) -> Int? { jobs[job]?.priority }

    /// Sets a job's priority (placement takes higher first). False if unknown.
    public mutating func setPriority(job id: JobID, _ priority: Int) -> Bool {
        guard jobs[id] != nil else { return false }
        jobs[id]?.priority = priority
        return true
    }

    /// Forgets the failures of the current stage's tiles (their counts towards `tileFailureLimit` and the workers they
    /// may not go back to), so each gets fresh attempts anywhere. Returns the tiles that had failed (sorted).
    public mutating func forgetTileFailures(job id: JobID) -> [Int] {
        guard let job = jobs[id] else { return [] }
        let failed = Set(job.tileFailures.keys).union(job.failedOn.keys).subtracting(job.done).sorted()
        jobs[id]?.tileFailures = [:]
        jobs[id]?.failedOn = [:]
        return failed
    }

    /// Reopens a closed job (the core retries a failed or cancelled one): not runnable, at the stage it stopped in, with
    /// its failure records, blocklist and pause forgotten; the caller prepares the stage (`startStage`). False if unknown.
    public mutating func reopen(job id: JobID) -> Bool {
        guard let job = jobs[id] else { return false }
        var j = job
        (j.runnable, j.pending, j.paused) = (false, [], false)
        (j.failuresByWorker, j.failedOn, j.blocklist, j.tileFailures, j.attempts) = ([:], [:], [], [:], [:])
        jobs[id] = j
        return true
    }

    /// The stage a job is in (the one to prepare again on `reopen`).
    public func stage(of job: JobID) -> Int? { jobs[job]?.stage }

    /// Drains a worker (it takes no new tile, across reconnects: by its identity) or undoes it. False if unknown.
    public mutating func setDraining(worker id: WorkerID, _ draining: Bool) -> Bool {
        guard let w = workers[id] else { return false }
        if draining { drained.insert(w.identity) } else { drained.remove(w.identity) }
        return true
    }

    /// Removes a worker (its machine: every connection of its key and name) from every job's blocklist and forgets its failures there. Returns the jobs it was blocklisted
    /// on (sorted); nil if the worker is unknown.
    public mutating func clearBlocklist(worker id: WorkerID) -> [JobID]? {
        guard let identity = workers[id]?.identity else { return nil }
        var cleared: [JobID] = []
        for (jid, job) in jobs
        where job.blocklist.contains(identity) || job.failuresByWorker[identity] != nil
            || job.failedOn.values.contains(where: { $0.contains(id) })
        {
            if job.blocklist.contains(identity) { cleared.append(jid) }
            jobs[jid]?.blocklist.remove(identity)
            jobs[jid]?.failuresByWorker[identity] = nil
            for (t, on) in job.failedOn where on.contains(id) { jobs[jid]?.failedOn[t]?.remove(id) }
        }
        return cleared.sorted()
    }

    /// The live workers whose id or name is `key`: the id first; a name may match several.
    public func workers(named key: String) -> [WorkerID] {
        if workers[WorkerID(key)] != nil { return [WorkerID(key)] }
        return workers.values.filter { $0.name == key }.map(\.id).sorted()
    }

    /// How many leases each tile of the job's current stage was given.
    public func attempts(job id: JobID) -> [Int: Int] { jobs[id]?.attempts ?? [:] }
}
