// Package modules is the list of the business domains this build serves,
// mounted by the assembly in this order (a module's demo data may build on
// the ones before it). Adding a domain is its own folders and one line
// here, beside its import.
package modules

import (
	"github.com/atrium-platform/atrium/modules/commissions"
	"github.com/atrium-platform/atrium/modules/expenses"
	"github.com/atrium-platform/atrium/modules/invoicing"
	"github.com/atrium-platform/atrium/modules/module"
	"github.com/atrium-platform/atrium/modules/objectives"
)

// All are the business domains this build serves.
func All() []module.Module {
	return []module.Module{
		commissions.Module(), // before invoicing: its demo plan is in force when the demo invoices are paid
		invoicing.Module(),
		expenses.Module(),
		objectives.Module(),
	}
}
