import Foundation
import GRDB

/// Whether an error means the disk (or the user's quota) is full: work that failed for that is kept and retried
/// (Docs/operations.md, "A full disk") instead of failing its job, since nothing is wrong with the job.
enum StorageFull {
    static func matches(_ error: Error) -> Bool {
        if let e = error as? DatabaseError { return e.resultCode == .SQLITE_FULL }
        if let e = error as? POSIXError { return [.ENOSPC, .EDQUOT].contains(e.code) }
        let ns = error as NSError
        // safe-int: errno values
        if ns.domain == NSPOSIXErrorDomain, [ENOSPC, EDQUOT].contains(Int32(ns.code)) { return true }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? Error, matches(underlying) { return true }
        // libpng and libtiff report a failed write by its strerror text.
        return "\(error)".contains(String(cString: strerror(ENOSPC)))
    }
}
