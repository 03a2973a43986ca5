// Importing this module registers every built-in pane. New built-ins add one line here.
import './welcome'
import './resources'
import './editor'
import './terminal'
import './terminals'
import './apps'
import './files'
import './viewer'
