// The sample plug-in's front-end bundle: plain JavaScript, no build step. Its components
// are made with labgate's own Vue (api.vue), so that they run in labgate's Vue app.
// labgate imports this module at start and calls register(api) (docs/plugins.md,
// "Front-end bundles").

const box = 'padding: 16px; color: var(--lg-text); font-size: var(--lg-text-sm)'

/** The "Sample" pane: says where it comes from and asks labgate's API a question. */
function samplePane(api) {
  const { defineComponent, h, onMounted, ref } = api.vue
  return defineComponent({
    name: 'SamplePane',
    props: { params: Object },
    setup() {
      const server = ref('asking labgate…')
      onMounted(async () => {
        try {
          const info = await api.client.get('/info')
          const names = (info.plugins || []).map((p) => `${p.name} ${p.version}`).join(', ')
          server.value = `labgate ${info.version}, plug-ins: ${names}`
        } catch (error) {
          server.value = `labgate did not answer: ${error.message}`
        }
      })
      return () =>
        h('section', { style: box, 'data-testid': 'sample-pane' }, [
          h('h2', { style: 'margin: 0 0 8px' }, 'Sample pane'),
          h('p', `This pane comes from the front-end bundle "${api.bundle}" of labgate's sample plug-in.`),
          h('p', { 'data-testid': 'sample-pane-server' }, server.value),
        ])
    },
  })
}

/** The viewer of *.lgsample files: each line numbered, under a banner. */
function sampleViewer(api) {
  const { defineComponent, h, onMounted, ref } = api.vue
  return defineComponent({
    name: 'SampleViewer',
    props: { resourceId: Number, path: Object, entry: Object, name: String },
    setup(props) {
      const lines = ref(null)
      const failed = ref('')
      onMounted(async () => {
        try {
          const { bytes } = await api.readFile(props.resourceId, props.path, { range: { start: 0, end: 65535 } })
          lines.value = new TextDecoder().decode(bytes).replace(/\n$/, '').split('\n')
        } catch (error) {
          failed.value = error.message
        }
      })
      return () =>
        h('div', { style: `${box}; overflow: auto`, 'data-testid': 'sample-viewer' }, [
          h('p', { style: 'margin: 0 0 8px; font-weight: 600' }, `Sample viewer: ${props.name}`),
          failed.value
            ? h('p', { role: 'alert' }, failed.value)
            : lines.value === null
              ? h('p', 'Reading…')
              : h(
                  'ol',
                  { style: 'margin: 0; padding-left: 3em; font-family: var(--lg-font-mono, monospace)' },
                  lines.value.map((line) => h('li', { 'data-testid': 'sample-viewer-line' }, `« ${line} »`)),
                ),
        ])
    },
  })
}

export function register(api) {
  if (api.version !== 1) throw new Error(`written for labgate's front-end API 1, got ${api.version}`)
  api.registerPane({
    kind: 'sample',
    title: 'Sample',
    component: samplePane(api),
    // A 24x24 icon, drawn with strokes like labgate's own.
    icon: 'M12 3l8 4.5v9L12 21l-8-4.5v-9L12 3z M12 12l8-4.5 M12 12v9 M12 12L4 7.5',
  })
  api.registerViewer('SampleViewer', sampleViewer(api))
}
