// libsystemd's readiness notification and journal APIs (Debian: libsystemd-dev).
// sd_journal_send is variadic and cannot be called from Swift; advd uses sd_journal_sendv.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
