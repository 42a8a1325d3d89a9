//! Who may do what: pure functions over the signed-in principal, the
//! action and the resource. Every handler asks here; nothing else decides.

use crate::id::StaffId;
use crate::staff::StaffRole;

/// Who is making a request, as established by authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Staff { id: StaffId, role: StaffRole },
}

/// Something a principal may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Export or read the audit log.
    ReadAuditLog,
    /// See the list of staff and their details.
    ListStaff,
    /// Create, change or deactivate staff.
    ManageStaff,
}

/// The principal may not do this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not allowed to {0:?}")]
pub struct Denied(pub Permission);

/// Decides whether `principal` may exercise `permission`.
pub fn authorize(principal: &Principal, permission: Permission) -> Result<(), Denied> {
    let allowed = match (principal, permission) {
        (Principal::Staff { role, .. }, Permission::ReadAuditLog) => {
            matches!(role, StaffRole::Admin | StaffRole::Auditor)
        }
        (Principal::Staff { .. }, Permission::ListStaff) => true,
        (Principal::Staff { role, .. }, Permission::ManageStaff) => *role == StaffRole::Admin,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied(permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(role: StaffRole) -> Principal {
        Principal::Staff {
            id: StaffId::new(),
            role,
        }
    }

    #[test]
    fn audit_log_is_for_admins_and_auditors() {
        assert!(authorize(&staff(StaffRole::Admin), Permission::ReadAuditLog).is_ok());
        assert!(authorize(&staff(StaffRole::Auditor), Permission::ReadAuditLog).is_ok());
        assert!(authorize(&staff(StaffRole::Agent), Permission::ReadAuditLog).is_err());
    }

    #[test]
    fn auditors_change_nothing() {
        assert!(authorize(&staff(StaffRole::Auditor), Permission::ManageStaff).is_err());
        assert!(authorize(&staff(StaffRole::Agent), Permission::ManageStaff).is_err());
        assert!(authorize(&staff(StaffRole::Admin), Permission::ManageStaff).is_ok());
    }
}
