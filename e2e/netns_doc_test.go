package e2e

// The prose of docs/reliability.md's netns section; the tables come from
// the run.

const netnsTopologyDoc = `TODO
`

const netnsFaultsDoc = `TODO
`

const netnsGuaranteesDoc = `TODO
`
