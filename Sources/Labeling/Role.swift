/// What a user may do. Admins screen and manage labelers; researchers import prompts and export
/// datasets; labelers write demonstrations and rank candidates.
public enum Role: String, Sendable, CaseIterable, Codable {
    case admin
    case researcher
    case labeler
}

/// Where a user stands: applicants wait for screening; suspended and rejected users cannot work.
public enum UserStatus: String, Sendable, CaseIterable, Codable {
    case applicant
    case active
    case suspended
    case rejected
}

/// Whose labels train models and whose only evaluate them (InstructGPT section 5.2).
public enum LabelerGroup: String, Sendable, CaseIterable, Codable {
    case training
    case heldOut = "held_out"
}
