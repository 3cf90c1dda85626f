// Pipecat Cloud builds and agents (pcc-provider's native provider)
package pipecat
